;; bigtable.wat: declares a table of a million entries (8 MiB per
;; instance), over the node's limit of 2^18; Register must reject it.
(module
  (memory (export "memory") 1)
  (table 1000000 funcref)
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "set_param") (param i32 i32 f64) (result i32) (i32.const 1))
  (func (export "reset"))
  (func (export "process") (param i32 i32 i32 i32 i32) (result i32) (local.get 1))
)
