package appliance

import (
	"maps"
	"sync"
	"time"

	"github.com/discodo-go/discodo/appliance/player"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/store"
)

// Snapshot is the node's figures, for STATUS and /metrics. Counters count
// from the node's start and never go back: connections that ended are
// kept in the totals.
type Snapshot struct {
	Sessions     int // managers
	Players      int // voice clients
	Connected    int // voice clients with a live voice connection
	Playing      int // of those, voice clients playing audio
	Frames       uint64
	Silence      uint64
	Nulled       uint64 // slots where a playing player had no frame ready
	Deficit      uint64 // grid slots skipped after stalls
	Reconnects   map[int]uint64
	FilterErrors uint64
}

// figures holds the totals of voice connections that ended, and the live
// ones, so that every connection is counted exactly once.
type figures struct {
	mu           sync.Mutex
	live         map[*voiceRun]struct{}
	ended        voice.Stats
	nulled       uint64 // of players that were stopped
	filterErrors uint64
}

// retirePlayer keeps a stopped player's underruns in the totals.
func (f *figures) retirePlayer(st player.Stats) {
	f.mu.Lock()
	f.nulled += st.Nulled
	f.mu.Unlock()
}

func (f *figures) start(run *voiceRun) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live == nil {
		f.live = make(map[*voiceRun]struct{})
	}
	f.live[run] = struct{}{}
}

// end moves a connection's final counters into the totals.
func (f *figures) end(run *voiceRun) {
	st := run.conn.Stats()
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, run)
	add(&f.ended, st)
}

func add(sum *voice.Stats, st voice.Stats) {
	sum.Frames += st.Frames
	sum.SilenceFrames += st.SilenceFrames
	sum.Skipped += st.Skipped
	if sum.Reconnects == nil {
		sum.Reconnects = make(map[int]uint64)
	}
	for code, k := range st.Reconnects {
		sum.Reconnects[code] += k
	}
}

// Snapshot returns the node's figures now.
func (n *Node) Snapshot() Snapshot {
	var s Snapshot
	n.mu.Lock()
	s.Sessions = len(n.managers)
	for _, m := range n.managers {
		m.mu.Lock()
		for _, vc := range m.voiceClients {
			s.Players++
			if vc.play != nil {
				s.Nulled += vc.play.p.Stats().Nulled
			}
			if vc.connected {
				s.Connected++
				if vc.state() == protocol.StatePlaying {
					s.Playing++
				}
			}
		}
		m.mu.Unlock()
	}
	n.mu.Unlock()

	f := &n.figures
	f.mu.Lock()
	sum := f.ended
	sum.Reconnects = maps.Clone(f.ended.Reconnects)
	runs := make([]*voiceRun, 0, len(f.live))
	for run := range f.live {
		runs = append(runs, run)
	}
	s.FilterErrors = f.filterErrors
	s.Nulled += f.nulled
	f.mu.Unlock()
	for _, run := range runs {
		add(&sum, run.conn.Stats())
	}
	s.Frames, s.Silence, s.Deficit, s.Reconnects = sum.Frames, sum.SilenceFrames, sum.Skipped, sum.Reconnects
	if s.Reconnects == nil {
		s.Reconnects = map[int]uint64{}
	}
	return s
}

// update commits one store transaction, timing it for /metrics.
func (n *Node) update(fn func(tx *store.Tx) error) error {
	start := time.Now()
	err := n.db.Update(fn)
	if n.cfg.ObserveCommit != nil {
		n.cfg.ObserveCommit(time.Since(start))
	}
	return err
}
