;; initloop.wat: a reactor whose _initialize never returns; Register must
;; give up after the instantiation budget.
(module
  (memory (export "memory") 1)
  (func (export "_initialize") (loop $forever (br $forever)))
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "set_param") (param i32 i32 f64) (result i32) (i32.const 1))
  (func (export "reset"))
  (func (export "process") (param i32 i32 i32 i32 i32) (result i32) (local.get 1))
)
