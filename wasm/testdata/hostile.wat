;; hostile.wat: a filter that misbehaves on demand, for the sandbox tests.
;; Its one parameter, mode, picks what it does:
;;
;;   set_param("mode", v)   v = 12: loops forever; v = 13: returns 7
;;   process, by mode        0 pass through (the default)
;;                           1 loop forever
;;                           2 grow memory until it fails, then trap (memory bomb)
;;                           3 unreachable
;;                           4 load out of bounds
;;                           5 return -1
;;                           6 return cap + 1
;;                           7 proc_exit(3)
;;                           8 write a line to stderr, then pass through
;;                           9 recurse until the stack overflows
;;                          10 grow the table by 2^31 - 1 entries: trap if
;;                             that fails (it must: the node caps tables)
;;   reset                  11: loops forever
;;
;; Assemble with wabt: wat2wasm hostile.wat -o hostile.wasm (go generate does).
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (global $heap (mut i32) (i32.const 1024))
  (global $mode (mut i32) (i32.const 0))
  ;; iovec {buf = 64, len = 23} at 16, the text at 64, nwritten at 32.
  (data (i32.const 16) "\40\00\00\00\17\00\00\00")
  (data (i32.const 64) "hello from hostile.wat\n")

  (func (export "abi_version") (result i32) (i32.const 1))

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

  ;; "mode" is the bytes 6d 6f 64 65: the little-endian i32 0x65646f6d.
  (func (export "set_param") (param $name i32) (param $len i32) (param $v f64) (result i32)
    (if (i32.or (i32.ne (local.get $len) (i32.const 4))
                (i32.ne (i32.load (local.get $name)) (i32.const 0x65646f6d)))
      (then (return (i32.const 1))))
    (if (f64.eq (local.get $v) (f64.const 12))
      (then (loop $forever (br $forever))))
    (if (f64.eq (local.get $v) (f64.const 13))
      (then (return (i32.const 7))))
    (if (i32.or (f64.lt (local.get $v) (f64.const 0)) (f64.gt (local.get $v) (f64.const 11)))
      (then (return (i32.const 2))))
    (global.set $mode (i32.trunc_f64_s (local.get $v)))
    (i32.const 0))

  (func (export "reset")
    (if (i32.eq (global.get $mode) (i32.const 11))
      (then (loop $forever (br $forever)))))

  (func $recurse (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))

  (func (export "process") (param $ptr i32) (param $frames i32) (param $channels i32) (param $rate i32) (param $cap i32) (result i32)
    (block $pass
      (block $m10 (block $m9 (block $m8 (block $m7 (block $m6 (block $m5 (block $m4 (block $m3 (block $m2 (block $m1
        (br_table $pass $m1 $m2 $m3 $m4 $m5 $m6 $m7 $m8 $m9 $m10 $pass (global.get $mode)))
        ;; 1
        (loop $forever (br $forever)))
        ;; 2
        (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable)
        ;; 3
        unreachable)
        ;; 4
        (drop (i32.load (i32.const 0xfffffff0)))
        (br $pass))
        ;; 5
        (return (i32.const -1)))
        ;; 6
        (return (i32.add (local.get $cap) (i32.const 1))))
        ;; 7
        (call $proc_exit (i32.const 3))
        (br $pass))
        ;; 8
        (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 32)))
        (br $pass))
      ;; 9
      (drop (call $recurse (i32.const 0)))
      (br $pass))
      ;; 10
      (if (i32.eq (table.grow $t (ref.null func) (i32.const 0x7fffffff)) (i32.const -1))
        (then unreachable)))
    (local.get $frames))
)
