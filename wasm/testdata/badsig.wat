;; badsig.wat: exports process with the wrong type; Register must reject it.
(module
  (memory (export "memory") 1)
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "set_param") (param i32 i32 f64) (result i32) (i32.const 1))
  (func (export "reset"))
  (func (export "process") (param i32 i32) (result i32) (local.get 1))
)
