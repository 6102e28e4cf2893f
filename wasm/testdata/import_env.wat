;; import_env.wat: imports a function from outside WASI; Register must
;; reject it and name env.socket.
(module
  (import "env" "socket" (func $socket (result i32)))
  (memory (export "memory") 1)
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "set_param") (param i32 i32 f64) (result i32) (i32.const 1))
  (func (export "reset"))
  (func (export "process") (param i32 i32 i32 i32 i32) (result i32) (call $socket))
)
