;; gain.wat: a well-behaved filter written by hand in the WebAssembly text
;; format, to prove that filters need not be written in Go. It implements the
;; filter ABI version 1 (wasm-filter-abi.md) with one parameter:
;;
;;   gain   0…10, default 1: every sample is multiplied by it
;;
;; Assemble with wabt: wat2wasm gain.wat -o gain.wasm (go generate does).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $gain (mut f32) (f32.const 1))

  (func (export "abi_version") (result i32) (i32.const 1))

  ;; A bump allocator, 16-byte aligned, growing the memory when needed.
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 15)) (i32.const -16)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.div_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                                      (i32.const 65536)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))

  ;; "gain" is the bytes 67 61 69 6e: the little-endian i32 0x6e696167.
  (func (export "set_param") (param $name i32) (param $len i32) (param $v f64) (result i32)
    (if (i32.or (i32.ne (local.get $len) (i32.const 4))
                (i32.ne (i32.load (local.get $name)) (i32.const 0x6e696167)))
      (then (return (i32.const 1))))
    (if (i32.or (f64.ne (local.get $v) (local.get $v))
                (i32.or (f64.lt (local.get $v) (f64.const 0)) (f64.gt (local.get $v) (f64.const 10))))
      (then (return (i32.const 2))))
    (global.set $gain (f32.demote_f64 (local.get $v)))
    (i32.const 0))

  (func (export "reset"))

  (func (export "process") (param $ptr i32) (param $frames i32) (param $channels i32) (param $rate i32) (param $cap i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr)
                             (i32.mul (i32.mul (local.get $frames) (local.get $channels)) (i32.const 4))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (global.get $gain)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $next)))
    (local.get $frames))
)
