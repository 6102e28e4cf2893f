;; noexport.wat: lacks set_param; Register must reject it and name it.
(module
  (memory (export "memory") 1)
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "reset"))
  (func (export "process") (param i32 i32 i32 i32 i32) (result i32) (local.get 1))
)
