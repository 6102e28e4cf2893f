package voice

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// FrameSource is the seam to the player (pull model: the connection owns
// the 20 ms clock).
type FrameSource interface {
	// NextFrame writes the next 20 ms Opus frame (48 kHz, stereo) into buf
	// (len(buf) >= MaxOpusFrame = 4000) and returns its length. 0 means
	// "nothing to play now". Called only from the connection's send loop,
	// once per grid slot, only while the connection is ready to send.
	NextFrame(buf []byte) int
}

// E2EE is the seam to DAVE (consumer-defined; dave.Session satisfies it).
type E2EE interface {
	// Start is called with op 4's dave_protocol_version after every fresh Identify.
	Start(protocolVersion int) error
	// Handle gets every DAVE gateway message: JSON ops 11, 13, 21, 22, 24 with
	// the raw JSON "d"; binary ops 25, 27, 29, 30 with the body after the
	// 3-byte server header (seq, opcode).
	Handle(op int, payload []byte) error
	// EncryptOpus appends to dst what goes into the RTP payload for this Opus
	// frame: a DAVE frame once a transition to v1 executed, else opus as is.
	// Must not allocate when dst has capacity. Called from the send loop.
	EncryptOpus(dst, opus []byte) ([]byte, error)
}

// FrameInterval is the length of one Opus frame and one grid slot.
const FrameInterval = 20 * time.Millisecond

// lateThreshold: a slot that starts this late counts in Stats.Late
// (discord-voice.md asks for a p99 deviation of at most 5 ms).
const lateThreshold = 5 * time.Millisecond

// timerLead is how early the send loop sets its timer. Go's timers on
// Linux fire 0–1 ms late: the runtime sleeps in epoll_wait, whose timeout
// is in milliseconds (a 19.6 ms wait is 19 ms, then 1 ms for the rest), so
// packets left 0.5 ms after their slot on average (the p50 of every
// benchmark). Aiming half of that millisecond early centres them on the
// grid: each leaves within about ±0.5 ms of its slot, early or late, and
// the deviation is measured both ways.
const timerLead = 500 * time.Microsecond

// silenceFrames is how many F8 FF FE frames follow the end of audio (§2.2).
const silenceFrames = 5

// keepAliveSlots: every 250 slots (5 s) an 8-byte UDP keep-alive goes out,
// as @discordjs/voice does (§2.1): it keeps NAT mappings open while the
// node is silent. Receivers ignore it.
const keepAliveSlots = 250

// silence is the Opus frame sent after audio stops (§2.2).
var silence = [3]byte{0xF8, 0xFF, 0xFE}

// sendLoop is the 20 ms send path of one ready voice session. It pulls a
// frame per grid slot, wraps it (E2EE, RTP, transport AEAD) and writes the
// packet. It is run by one goroutine; nothing in it allocates per frame.
//
// The grid is absolute: slot n is due at start + n·20 ms, so timer jitter
// does not accumulate. A wake-up less than a slot late sends at once; after
// a stall of a slot or more, the slots that passed are skipped (counted in
// Stats.Skipped) and the loop waits for the next slot boundary: never a
// burst, and every packet but the stalled one leaves on the grid.
type sendLoop struct {
	source   *atomic.Pointer[FrameSource]
	pk       *packetizer
	e2ee     E2EE                   // nil: payload is the Opus frame
	write    func(pkt []byte) error // one UDP datagram
	speaking func(on bool) error    // op 5 on the gateway
	stats    *counters
	observe  func(deviation time.Duration) // nil: not measured; |actual − slot|
	lead     time.Duration                 // timerLead, or 0 (tests: exact fake clocks)
	log      *slog.Logger

	speakingOn  bool
	silenceLeft int
	keepAlive   [8]byte // uint32 little-endian counter, 4 zero bytes
	keepAlives  uint32

	opus []byte // MaxOpusFrame
	dave []byte // cap maxPayload
	pkt  []byte // cap maxPacket
}

func newSendLoop(s *sendLoop) *sendLoop {
	s.opus = make([]byte, MaxOpusFrame)
	s.dave = make([]byte, 0, maxPayload)
	s.pkt = make([]byte, 0, maxPacket)
	return s
}

// run sends until ctx ends or the packetizer is exhausted
// (ErrNonceExhausted). Other errors are counted and logged, never fatal:
// a lost datagram is better than a torn-down call.
func (s *sendLoop) run(ctx context.Context) error {
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer s.stopSpeaking()
	for n := int64(0); ; n++ {
		due := start.Add(time.Duration(n) * FrameInterval)
		if wait := time.Until(due) - s.lead; wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		if late := time.Since(due); late >= FrameInterval {
			// A stall (slow source, descheduled process): the slots that
			// passed are skipped and the next one is waited for, so
			// packets never leave back to back.
			next := (time.Since(start) + FrameInterval - 1) / FrameInterval
			s.stats.skipped.Add(uint64(int64(next) - n))
			n = int64(next) - 1
			continue
		}
		if time.Since(due) >= lateThreshold {
			s.stats.late.Add(1)
		}
		sent := s.stats.frames.Load() + s.stats.silence.Load()
		if err := s.slot(); err != nil {
			return err
		}
		if s.observe != nil && s.stats.frames.Load()+s.stats.silence.Load() != sent {
			s.observe(time.Since(due).Abs())
		}
		if n%keepAliveSlots == keepAliveSlots-1 {
			s.sendKeepAlive()
		}
	}
}

// slot does the work of one grid slot.
func (s *sendLoop) slot() error {
	n := 0
	if src := s.source.Load(); src != nil && *src != nil {
		n = (*src).NextFrame(s.opus)
		if n < 0 || n > len(s.opus) {
			if rare(s.stats.dropped.Add(1)) {
				s.log.Warn("voice: frame source returned a bad length", "n", n)
			}
			n = 0
		}
	}
	if n > 0 {
		if !s.speakingOn {
			s.setSpeaking(true)
		}
		s.silenceLeft = silenceFrames
		payload := s.opus[:n]
		if s.e2ee != nil {
			var err error
			payload, err = s.e2ee.EncryptOpus(s.dave[:0], payload)
			if err != nil {
				if n := s.stats.dropped.Add(1); rare(n) {
					s.log.Warn("voice: E2EE refused a frame", "err", err, "dropped", n)
				}
				return nil
			}
		}
		if err := s.send(payload); err != nil {
			return err
		}
		s.stats.frames.Add(1)
		return nil
	}
	if s.silenceLeft == 0 {
		return nil
	}
	// Silence frames go out without DAVE: receivers let exactly this
	// 3-byte frame through (§2.2).
	if err := s.send(silence[:]); err != nil {
		return err
	}
	s.stats.silence.Add(1)
	s.silenceLeft--
	if s.silenceLeft == 0 {
		s.setSpeaking(false)
	}
	return nil
}

func (s *sendLoop) send(payload []byte) error {
	pkt, err := s.pk.seal(s.pkt[:0], payload)
	if err != nil {
		if errors.Is(err, ErrNonceExhausted) {
			return err
		}
		if n := s.stats.dropped.Add(1); rare(n) {
			s.log.Warn("voice: cannot seal frame", "err", err, "dropped", n)
		}
		return nil
	}
	if err := s.write(pkt); err != nil {
		if n := s.stats.sendErrors.Add(1); rare(n) {
			s.log.Warn("voice: UDP write failed", "err", err, "failures", n)
		}
	}
	return nil
}

// rare reports whether the n-th occurrence of a per-frame problem is
// logged: the 1st, 2nd, 4th, 8th, ... so a lasting fault cannot flood the
// log 50 times a second.
func rare(n uint64) bool { return n&(n-1) == 0 }

// sendKeepAlive writes the 8-byte keep-alive: a little-endian uint32
// counter and four zero bytes (the layout @discordjs/voice uses).
func (s *sendLoop) sendKeepAlive() {
	binary.LittleEndian.PutUint32(s.keepAlive[:], s.keepAlives)
	s.keepAlives++
	if err := s.write(s.keepAlive[:]); err != nil {
		if n := s.stats.sendErrors.Add(1); rare(n) {
			s.log.Warn("voice: UDP keep-alive failed", "err", err, "failures", n)
		}
	}
}

func (s *sendLoop) setSpeaking(on bool) {
	s.speakingOn = on
	if err := s.speaking(on); err != nil {
		s.log.Debug("voice: speaking not sent", "on", on, "err", err)
	}
}

// stopSpeaking clears the speaking flag when the loop stops mid-spurt.
func (s *sendLoop) stopSpeaking() {
	if s.speakingOn {
		s.setSpeaking(false)
	}
}
