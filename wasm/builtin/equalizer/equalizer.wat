;; The built-in equalizer: Lavalink's 15 bands, as package dsp's Equalizer
;; describes them (x' = x + Σ 4·g_N·bandpass_N(x), constant-peak band-passes
;; of Q 2.1456, bands at or above 0.45·rate ignored, bands at gain 0 cost
;; nothing), written by hand in WebAssembly text for its SIMD instructions.
;; Go compiles no SIMD for GOARCH=wasm; with f32x4 the fifteen recursions
;; of a stereo frame are eight vector recursions, two bands by two channels
;; each: 108 µs a 20 ms frame for dsp.Equalizer compiled by Go, 30–33 µs
;; here, under wazero on the same machine. The eight pairs run side by side
;; within each frame, so that their recursions overlap in the CPU (one pair
;; at a time over the whole frame was slower: each waits on its own
;; previous output).
;;
;; Decisions:
;;   - The recursions run in float32 (dsp.Equalizer uses float64; Lavalink's
;;     equalizer uses float32 too), with the coefficients designed in
;;     float64. The poles of the low bands lie close to z = 1, where a1 ≈ −2
;;     and a2 ≈ 1 lose most of their bits in float32, so the recursion is
;;     written around them, with e1 = a1 + 2 and e2 = a2 − 1:
;;       y = b·(x[n] − x[n−2]) − e2·y[n−2] − e1·y[n−1] + (y[n−1] − y[n−2]) + y[n−1]
;;     which keeps the output within 2^-13 of dsp.Equalizer's (about 2^-15
;;     seen; the plain form was 25 times further off) at no measurable cost
;;     (TestEqualizerModuleMatchesDSP).
;;   - One and two channels are handled; more make process return -1, as the
;;     filter ABI allows (the node passes two).
;;
;; ABI version 1 (/work/shared/spec/wasm-filter-abi.md) plus builtin_select,
;; which the host calls for every built-in and which accepts "equalizer".
;;
;; Memory (one page to start):
;;      64  gains: 15 f64 (−0.25…1, 0 = flat)
;;     192  centres: 15 f64 (Hz)
;;     320  coefficients: 8 pairs × 64 bytes: b, e1, e2, 4g (f32x4 each);
;;          the lanes of pair p are band 2p left, right, band 2p+1 left,
;;          right; a band that is off (and band 15, which does not exist)
;;          gets the zero filter, e1 = 2, e2 = −1
;;     832  state: 8 pairs × 32 bytes: y[n−1], y[n−2] (f32x4, lanes as above)
;;    1088  input history: x[n−1], x[n−2] (f32x4: left, right, left, right)
;;    1120  active pairs: up to 8 i32, each the pair's state offset (p·32;
;;          its coefficients are at twice that)
;;    4096  heap for alloc (16-byte aligned bump allocator)
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $rate (mut i32) (i32.const 0))   ;; rate the coefficients are for; 0 = redesign
  (global $dirty (mut i32) (i32.const 1))  ;; gains changed since the design
  (global $pairs (mut i32) (i32.const 0))  ;; active pairs

  (data (i32.const 192)
    "\00\00\00\00\00\00\39\40"  ;; 25
    "\00\00\00\00\00\00\44\40"  ;; 40
    "\00\00\00\00\00\80\4f\40"  ;; 63
    "\00\00\00\00\00\00\59\40"  ;; 100
    "\00\00\00\00\00\00\64\40"  ;; 160
    "\00\00\00\00\00\40\6f\40"  ;; 250
    "\00\00\00\00\00\00\79\40"  ;; 400
    "\00\00\00\00\00\b0\83\40"  ;; 630
    "\00\00\00\00\00\40\8f\40"  ;; 1000
    "\00\00\00\00\00\00\99\40"  ;; 1600
    "\00\00\00\00\00\88\a3\40"  ;; 2500
    "\00\00\00\00\00\40\af\40"  ;; 4000
    "\00\00\00\00\00\9c\b8\40"  ;; 6300
    "\00\00\00\00\00\88\c3\40"  ;; 10000
    "\00\00\00\00\00\40\cf\40") ;; 16000

  (func (export "abi_version") (result i32) (i32.const 1))

  ;; alloc hands out 16-byte aligned regions, growing memory as needed;
  ;; 0 when the size is not positive or memory cannot grow.
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i64) (local $have i64)
    (if (i32.or (i32.le_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 0x4000000)))
      (then (return (i32.const 0))))
    (local.set $p (global.get $heap))
    (local.set $end (i64.add (i64.extend_i32_u (local.get $p))
                             (i64.extend_i32_u (i32.and (i32.add (local.get $n) (i32.const 15)) (i32.const -16)))))
    (local.set $have (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.wrap_i64 (i64.shr_u (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 65535)) (i64.const 16))))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (i32.wrap_i64 (local.get $end)))
    (local.get $p))

  ;; inMemory reports whether [p, p+n) lies in memory.
  (func $inMemory (param $p i32) (param $n i64) (result i32)
    (i64.le_u (i64.add (i64.extend_i32_u (local.get $p)) (local.get $n))
              (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16))))

  (func (export "builtin_select") (param $p i32) (param $n i32) (result i32)
    ;; "equalizer": 9 bytes
    (if (i32.or (i32.ne (local.get $n) (i32.const 9))
                (i32.eqz (call $inMemory (local.get $p) (i64.const 9))))
      (then (return (i32.const 1))))
    (i32.eqz (i32.and (i32.and
      (i64.eq (i64.load (local.get $p)) (i64.const 0x657a696c61757165)) ;; "equalize", little-endian
      (i32.eq (i32.load8_u offset=8 (local.get $p)) (i32.const 0x72)))   ;; "r"
      (i32.const 1))))

  ;; set_param accepts gains.0 … gains.14 (no leading zeros), −0.25…1.
  (func (export "set_param") (param $p i32) (param $n i32) (param $v f64) (result i32)
    (local $i i32) (local $d i32) (local $band i32) (local $at i32)
    (if (i32.or (i32.or (i32.lt_s (local.get $n) (i32.const 7)) (i32.gt_s (local.get $n) (i32.const 9)))
                (i32.eqz (call $inMemory (local.get $p) (i64.extend_i32_u (local.get $n)))))
      (then (return (i32.const 1))))
    ;; "gain" and "s."
    (if (i32.or (i32.ne (i32.load (local.get $p)) (i32.const 0x6e696167))
                (i32.ne (i32.load16_u offset=4 (local.get $p)) (i32.const 0x2e73)))
      (then (return (i32.const 1))))
    (if (i32.and (i32.gt_s (local.get $n) (i32.const 7))
                 (i32.eq (i32.load8_u offset=6 (local.get $p)) (i32.const 0x30)))
      (then (return (i32.const 1)))) ;; a leading zero
    (local.set $i (i32.const 6))
    (loop $digits
      (local.set $d (i32.sub (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 0x30)))
      (if (i32.gt_u (local.get $d) (i32.const 9)) (then (return (i32.const 1))))
      (local.set $band (i32.add (i32.mul (local.get $band) (i32.const 10)) (local.get $d)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_s (local.get $i) (local.get $n))))
    (if (i32.ge_u (local.get $band) (i32.const 15)) (then (return (i32.const 1))))
    (if (i32.eqz (i32.and (f64.ge (local.get $v) (f64.const -0.25)) (f64.le (local.get $v) (f64.const 1))))
      (then (return (i32.const 2)))) ;; also NaN
    (if (f64.eq (local.get $v) (f64.const 0))
      (then ;; a band turned off starts from silence when it is turned on again
        (local.set $at (i32.add (i32.const 832)
          (i32.add (i32.shl (i32.shr_u (local.get $band) (i32.const 1)) (i32.const 5))
                   (i32.shl (i32.and (local.get $band) (i32.const 1)) (i32.const 3)))))
        (i64.store (local.get $at) (i64.const 0))
        (i64.store offset=16 (local.get $at) (i64.const 0))))
    (f64.store offset=64 (i32.shl (local.get $band) (i32.const 3)) (local.get $v))
    (global.set $dirty (i32.const 1))
    (i32.const 0))

  (func $reset (export "reset")
    (memory.fill (i32.const 832) (i32.const 0) (i32.const 288)))

  ;; sin and cos of w in (0, π) as Taylor series to the 31st power
  ;; (remainders below 1e-15 there).
  (func $sin (param $w f64) (result f64)
    (local $t f64) (local $s f64) (local $w2 f64) (local $k f64)
    (local.set $t (local.get $w)) (local.set $s (local.get $w))
    (local.set $w2 (f64.mul (local.get $w) (local.get $w)))
    (local.set $k (f64.const 2))
    (loop $next
      (local.set $t (f64.div (f64.neg (f64.mul (local.get $t) (local.get $w2)))
                             (f64.mul (local.get $k) (f64.add (local.get $k) (f64.const 1)))))
      (local.set $s (f64.add (local.get $s) (local.get $t)))
      (local.set $k (f64.add (local.get $k) (f64.const 2)))
      (br_if $next (f64.lt (local.get $k) (f64.const 32))))
    (local.get $s))

  (func $cos (param $w f64) (result f64)
    (local $t f64) (local $s f64) (local $w2 f64) (local $k f64)
    (local.set $t (f64.const 1)) (local.set $s (f64.const 1))
    (local.set $w2 (f64.mul (local.get $w) (local.get $w)))
    (local.set $k (f64.const 1))
    (loop $next
      (local.set $t (f64.div (f64.neg (f64.mul (local.get $t) (local.get $w2)))
                             (f64.mul (local.get $k) (f64.add (local.get $k) (f64.const 1)))))
      (local.set $s (f64.add (local.get $s) (local.get $t)))
      (local.set $k (f64.add (local.get $k) (f64.const 2)))
      (br_if $next (f64.lt (local.get $k) (f64.const 32))))
    (local.get $s))

  ;; lane stores v into both channels' lanes of band's coefficient vector at
  ;; offset (0 b, 16 e1, 32 e2, 48 4g).
  (func $lane (param $band i32) (param $offset i32) (param $v f32)
    (local $at i32)
    (local.set $at (i32.add (i32.add (i32.const 320) (local.get $offset))
      (i32.add (i32.shl (i32.shr_u (local.get $band) (i32.const 1)) (i32.const 6))
               (i32.shl (i32.and (local.get $band) (i32.const 1)) (i32.const 3)))))
    (f32.store (local.get $at) (local.get $v))
    (f32.store offset=4 (local.get $at) (local.get $v)))

  ;; design computes the coefficients of every band for $rate and the gains,
  ;; and the list of pairs with a band to run.
  (func $design
    (local $band i32) (local $g f64) (local $f0 f64) (local $w f64) (local $alpha f64) (local $a0 f64)
    (local $p i32)
    (memory.fill (i32.const 320) (i32.const 0) (i32.const 512))
    (global.set $pairs (i32.const 0))
    (loop $bands
      (local.set $g (f64.load offset=64 (i32.shl (local.get $band) (i32.const 3))))
      (local.set $f0 (f64.load offset=192 (i32.shl (local.get $band) (i32.const 3))))
      (if (i32.and (f64.ne (local.get $g) (f64.const 0))
                   (f64.lt (local.get $f0) (f64.mul (f64.const 0.45) (f64.convert_i32_s (global.get $rate)))))
        (then
          (local.set $w (f64.div (f64.mul (f64.const 6.283185307179586) (local.get $f0))
                                 (f64.convert_i32_s (global.get $rate))))
          (local.set $alpha (f64.div (call $sin (local.get $w)) (f64.const 4.2912))) ;; 2·Q
          (local.set $a0 (f64.add (f64.const 1) (local.get $alpha)))
          (call $lane (local.get $band) (i32.const 0) (f32.demote_f64 (f64.div (local.get $alpha) (local.get $a0))))
          (call $lane (local.get $band) (i32.const 16)
            (f32.demote_f64 (f64.add (f64.div (f64.mul (f64.const -2) (call $cos (local.get $w))) (local.get $a0)) (f64.const 2))))
          (call $lane (local.get $band) (i32.const 32)
            (f32.demote_f64 (f64.sub (f64.div (f64.sub (f64.const 1) (local.get $alpha)) (local.get $a0)) (f64.const 1))))
          (call $lane (local.get $band) (i32.const 48) (f32.demote_f64 (f64.mul (f64.const 4) (local.get $g))))
          ;; the band's pair runs (listed once: its first active band lists it)
          (local.set $p (i32.shl (i32.shr_u (local.get $band) (i32.const 1)) (i32.const 5)))
          (if (i32.or (i32.eqz (global.get $pairs))
                      (i32.ne (i32.load offset=1116 (i32.shl (global.get $pairs) (i32.const 2))) (local.get $p)))
            (then
              (i32.store offset=1120 (i32.shl (global.get $pairs) (i32.const 2)) (local.get $p))
              (global.set $pairs (i32.add (global.get $pairs) (i32.const 1))))))
        (else ;; off: the zero filter (b, a1, a2 = 0), whatever its state
          (call $lane (local.get $band) (i32.const 16) (f32.const 2))
          (call $lane (local.get $band) (i32.const 32) (f32.const -1))))
      (local.set $band (i32.add (local.get $band) (i32.const 1)))
      (br_if $bands (i32.lt_u (local.get $band) (i32.const 16)))) ;; 15: the lanes no band uses
    (global.set $dirty (i32.const 0)))

  ;; history keeps x[n−1] and x[n−2] through frames that run no band, so
  ;; that a band turned on starts from the signal's history.
  (func $history (param $ptr i32) (param $frames i32) (param $channels i32)
    (local $step i32) (local $at i32)
    (if (i32.eqz (local.get $frames)) (then (return)))
    (local.set $step (i32.shl (local.get $channels) (i32.const 2)))
    (local.set $at (i32.add (local.get $ptr) (i32.mul (i32.sub (local.get $frames) (i32.const 1)) (local.get $step))))
    (if (i32.ge_u (local.get $frames) (i32.const 2))
      (then (v128.store (i32.const 1104) (call $splat (i32.sub (local.get $at) (local.get $step)) (local.get $channels))))
      (else (v128.store (i32.const 1104) (v128.load (i32.const 1088)))))
    (v128.store (i32.const 1088) (call $splat (local.get $at) (local.get $channels))))

  ;; splat loads the frame at at as left, right, left, right (mono: the
  ;; sample four times).
  (func $splat (param $at i32) (param $channels i32) (result v128)
    (if (result v128) (i32.eq (local.get $channels) (i32.const 2))
      (then (v128.load64_splat (local.get $at)))
      (else (v128.load32_splat (local.get $at)))))

  ;; flush zeroes the lanes of v too small to matter, so that recursions
  ;; fed with silence never reach the (slow) denormal range.
  (func $flush (param $v v128) (result v128)
    (v128.andnot (local.get $v) (f32x4.lt (f32x4.abs (local.get $v)) (v128.const f32x4 1e-30 1e-30 1e-30 1e-30))))

  (func (export "process") (param $ptr i32) (param $frames i32) (param $channels i32) (param $rate i32) (param $cap i32) (result i32)
    (local $i i32) (local $end i32) (local $step i32) (local $j i32) (local $jend i32) (local $o i32) (local $c i32)
    (local $x v128) (local $u v128) (local $x1 v128) (local $x2 v128) (local $acc v128) (local $y v128) (local $y1 v128) (local $y2 v128)
    (if (i32.or (i32.or (i32.lt_s (local.get $channels) (i32.const 1)) (i32.gt_s (local.get $channels) (i32.const 2)))
        (i32.or (i32.or (i32.lt_s (local.get $rate) (i32.const 8000)) (i32.gt_s (local.get $rate) (i32.const 384000)))
          (i32.or (i32.or (i32.lt_s (local.get $frames) (i32.const 0)) (i32.gt_s (local.get $frames) (local.get $cap)))
            (i32.eqz (call $inMemory (local.get $ptr)
              (i64.mul (i64.extend_i32_u (local.get $cap)) (i64.extend_i32_u (i32.shl (local.get $channels) (i32.const 2)))))))))
      (then (return (i32.const -1))))
    (if (i32.ne (local.get $rate) (global.get $rate))
      (then (global.set $rate (local.get $rate)) (call $design) (call $reset))
      (else (if (global.get $dirty) (then (call $design)))))
    (if (i32.eqz (global.get $pairs))
      (then (call $history (local.get $ptr) (local.get $frames) (local.get $channels)) (return (local.get $frames))))

    (local.set $step (i32.shl (local.get $channels) (i32.const 2)))
    (local.set $end (i32.add (local.get $ptr) (i32.mul (local.get $frames) (local.get $step))))
    (local.set $jend (i32.add (i32.const 1120) (i32.shl (global.get $pairs) (i32.const 2))))
    (local.set $x1 (v128.load (i32.const 1088)))
    (local.set $x2 (v128.load (i32.const 1104)))
    (local.set $i (local.get $ptr))
    (block $done (loop $frame
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      ;; left, right, left, right (mono: the sample four times); not $splat:
      ;; wazero does not inline calls
      (if (i32.eq (local.get $channels) (i32.const 2))
        (then (local.set $x (v128.load64_splat (local.get $i))))
        (else (local.set $x (v128.load32_splat (local.get $i)))))
      (local.set $u (f32x4.sub (local.get $x) (local.get $x2)))
      (local.set $x2 (local.get $x1))
      (local.set $x1 (local.get $x))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.const 1120))
      (loop $pair
        ;; o: the pair's state offset (p·32); its coefficients are at 2o
        (local.set $o (i32.load (local.get $j)))
        (local.set $c (i32.shl (local.get $o) (i32.const 1)))
        ;; y = b·(x[n] − x[n−2]) − e2·y[n−2] − e1·y[n−1] + (y[n−1] − y[n−2]) + y[n−1];
        ;; sum += 4g·y
        (local.set $y1 (v128.load offset=832 (local.get $o)))
        (local.set $y2 (v128.load offset=848 (local.get $o)))
        (local.set $y (f32x4.add
          (f32x4.sub
            (f32x4.sub (f32x4.mul (v128.load offset=320 (local.get $c)) (local.get $u))
                       (f32x4.mul (v128.load offset=352 (local.get $c)) (local.get $y2)))
            (f32x4.mul (v128.load offset=336 (local.get $c)) (local.get $y1)))
          (f32x4.add (f32x4.sub (local.get $y1) (local.get $y2)) (local.get $y1))))
        (v128.store offset=848 (local.get $o) (local.get $y1))
        (v128.store offset=832 (local.get $o) (local.get $y))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=368 (local.get $c)) (local.get $y))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br_if $pair (i32.lt_u (local.get $j) (local.get $jend))))
      ;; x plus both bands of every pair: lanes 0, 1 plus lanes 2, 3
      (local.set $acc (f32x4.add (local.get $x)
        (f32x4.add (local.get $acc) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc)))))
      (if (i32.eq (local.get $channels) (i32.const 2))
        (then (v128.store64_lane 0 (local.get $i) (local.get $acc)))
        (else (v128.store32_lane 0 (local.get $i) (local.get $acc))))
      (local.set $i (i32.add (local.get $i) (local.get $step)))
      (br $frame)))
    (v128.store (i32.const 1088) (call $flush (local.get $x1)))
    (v128.store (i32.const 1104) (call $flush (local.get $x2)))
    (local.set $o (i32.const 832))
    (loop $state
      (v128.store (local.get $o) (call $flush (v128.load (local.get $o))))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (br_if $state (i32.lt_u (local.get $o) (i32.const 1088))))
    (local.get $frames))
)
