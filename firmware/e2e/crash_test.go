package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/discodo-go/discodo/appliance/server/servertest"
)

// loudStoreLog is what main logs when it moved an unreadable store aside.
const loudStoreLog = "THE STORE WAS UNREADABLE"

// crashModel is what the node must hold: every acknowledged change.
type crashModel struct {
	queue   []string       // tags, in order
	itemCtx map[string]int // tag -> the "n" of its context, when one was set
	options crashOptions
	context any // the voice client's context, decoded
}

type crashOptions struct {
	Autoplay  bool    `json:"autoplay"`
	Volume    float64 `json:"volume"`
	Crossfade float64 `json:"crossfade"`
	Filter    any     `json:"filter"`
}

func (m *crashModel) clone() *crashModel {
	c := *m
	c.queue = slices.Clone(m.queue)
	c.itemCtx = maps.Clone(m.itemCtx)
	return &c
}

// crashOp is one REST change; apply turns a model into the one the node
// holds once the change is acknowledged.
type crashOp struct {
	method, path, body string
	apply              func(*crashModel)
}

func (o crashOp) String() string { return o.method + " " + o.path + " " + o.body }

// next picks a change that is valid for m: putSource (one to three
// sources), options (with a filter chain), context, a move, a delete, an
// item's context.
func (m *crashModel) next(rng *rand.Rand, cycle, i int) crashOp {
	n := len(m.queue)
	for {
		switch k := rng.IntN(100); {
		case k < 30 && n < 300:
			var tags []string
			var src []string
			for j := range 1 + rng.IntN(3) {
				tag := fmt.Sprintf("c%02d-%04d-%d", cycle, i, j)
				tags = append(tags, tag)
				src = append(src, fmt.Sprintf(`{"url":"http://127.0.0.1:9/%s.ogg","tag":%q,"title":%q}`, tag, tag, "track "+tag))
			}
			body := `{"source":` + src[0] + `}`
			if len(src) > 1 {
				body = `{"source":[` + strings.Join(src, ",") + `]}`
			}
			return crashOp{"POST", "/putSource", body, func(m *crashModel) { m.queue = append(m.queue, tags...) }}
		case k < 55 && n > 0:
			tag := m.queue[rng.IntN(n)]
			return crashOp{"DELETE", "/queue/" + tag, "", func(m *crashModel) {
				i := slices.Index(m.queue, tag)
				m.queue = slices.Delete(m.queue, i, i+1)
				delete(m.itemCtx, tag)
			}}
		case k < 70 && n > 1:
			tag, to := m.queue[rng.IntN(n)], rng.IntN(n)
			return crashOp{"POST", "/queue/" + tag, fmt.Sprintf(`{"index":%d}`, to), func(m *crashModel) {
				i := slices.Index(m.queue, tag)
				m.queue = slices.Insert(slices.Delete(m.queue, i, i+1), to, tag)
			}}
		case k < 80 && n > 0:
			tag, v := m.queue[rng.IntN(n)], cycle*10000+i
			return crashOp{"POST", "/queue/" + tag, fmt.Sprintf(`{"context":{"n":%d}}`, v), func(m *crashModel) { m.itemCtx[tag] = v }}
		case k < 90:
			o := crashOptions{
				Autoplay:  rng.IntN(2) == 0,
				Volume:    float64(rng.IntN(200)) / 100,
				Crossfade: float64(rng.IntN(20)),
				Filter: map[string]any{
					"volume":  map[string]any{"volume": float64(1+rng.IntN(4)) / 2},
					"tremolo": map[string]any{"frequency": float64(1 + rng.IntN(9)), "depth": 0.5},
				},
			}
			b, _ := json.Marshal(o)
			return crashOp{"POST", "/options", string(b), func(m *crashModel) { m.options = o }}
		case k < 100:
			c := map[string]any{"cycle": float64(cycle), "op": float64(i)}
			b, _ := json.Marshal(map[string]any{"context": c})
			return crashOp{"POST", "/context", string(b), func(m *crashModel) { m.context = c }}
		}
	}
}

// observe reads the node's state into a model.
func observe(ctx context.Context, r *rest) (*crashModel, error) {
	m := &crashModel{itemCtx: map[string]int{}}
	status, body, err := r.do(ctx, "GET", "/queue", "")
	if err != nil || status != 200 {
		return nil, fmt.Errorf("GET /queue: %d %s %v", status, body, err)
	}
	var q struct {
		Entries []struct {
			Tag     string          `json:"tag"`
			Context json.RawMessage `json:"context"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &q); err != nil {
		return nil, fmt.Errorf("GET /queue: %v", err)
	}
	for _, e := range q.Entries {
		m.queue = append(m.queue, e.Tag)
		var c struct{ N *int }
		if len(e.Context) > 0 && string(e.Context) != "null" {
			if err := json.Unmarshal(e.Context, &c); err != nil {
				return nil, fmt.Errorf("entry %s context %s: %v", e.Tag, e.Context, err)
			}
		}
		if c.N != nil {
			m.itemCtx[e.Tag] = *c.N
		}
	}
	status, body, err = r.do(ctx, "GET", "/options", "")
	if err != nil || status != 200 {
		return nil, fmt.Errorf("GET /options: %d %s %v", status, body, err)
	}
	if err := json.Unmarshal(body, &m.options); err != nil {
		return nil, fmt.Errorf("GET /options: %v", err)
	}
	status, body, err = r.do(ctx, "GET", "/context", "")
	if err != nil || status != 200 {
		return nil, fmt.Errorf("GET /context: %d %s %v", status, body, err)
	}
	// The answer is the context object itself, or {"context": ...}.
	var c any
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("GET /context: %v", err)
	}
	if wrapped, ok := c.(map[string]any); ok {
		if inner, ok := wrapped["context"]; ok && len(wrapped) == 1 {
			c = inner
		}
	}
	m.context = c
	return m, nil
}

// diff says how got differs from want ("" when equal).
func (want *crashModel) diff(got *crashModel) string {
	if !slices.Equal(got.queue, want.queue) {
		return fmt.Sprintf("queue: %d entries, want %d; %s", len(got.queue), len(want.queue), firstDiff(want.queue, got.queue))
	}
	if !maps.Equal(got.itemCtx, want.itemCtx) {
		return fmt.Sprintf("item contexts %v, want %v", got.itemCtx, want.itemCtx)
	}
	if !reflect.DeepEqual(got.options, want.options) {
		return fmt.Sprintf("options %+v, want %+v", got.options, want.options)
	}
	if !reflect.DeepEqual(got.context, want.context) {
		return fmt.Sprintf("context %v, want %v", got.context, want.context)
	}
	return ""
}

func firstDiff(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("first difference at %d: %s, want %s", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

// checkStore opens the store file with bbolt and runs its consistency check.
func checkStore(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("the store does not open after SIGKILL: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the store fails bbolt's check after SIGKILL: %v", err)
	}
}

// TestCrashCycles SIGKILLs the node 50 times (DISCODO_CRASH_CYCLES) at
// random moments: mostly during a stream of REST changes, sometimes while
// it boots. After each kill the store must pass bbolt's check; after each
// restart the node must hold exactly the acknowledged changes, in order,
// plus possibly the one change in flight at the kill (committed, killed
// before its answer left), and the bot's voice client must be RESUMED.
// DISCODO_CRASH_SEED replays a run.
func TestCrashCycles(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the binary 50 times")
	}
	cycles := 50
	if s := os.Getenv("DISCODO_CRASH_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DISCODO_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (DISCODO_CRASH_SEED replays it)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	state, port := t.TempDir(), freePort(t)
	dbPath := filepath.Join(state, "discodo.db")
	args := []string{"--vc-timeout", "600"}
	began := time.Now()

	// The bot: one manager, one voice client, paused so that a player
	// never consumes the queue under the test.
	p := start(t, "amd64", state, port, nil, args...)
	p.waitListening(10 * time.Second)
	c := servertest.Remote(t, p.url).Dial("")
	c.Identify("4242", nil)
	c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_STATE_UPDATE",
		"d": map[string]any{"guild_id": "77", "channel_id": "88", "user_id": "4242", "session_id": "s"}})
	var created struct{ ID string }
	c.Expect("VC_CREATED").Decode(t, &created)
	header := servertest.VCHeaders("4242", "77", created.ID)
	r := newREST(p.url, header)
	if status, body, err := r.do(t.Context(), "POST", "/pause", ""); err != nil || status >= 300 {
		t.Logf("pause: %d %s %v (no player yet)", status, body, err)
	}
	model, err := observe(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	r.close()
	c.Close()

	var inFlight *crashOp // the change in flight at the last kill
	var acked, bootKills, uncertainApplied int
	var maxBoot time.Duration
	for cycle := range cycles {
		if cycle > 0 {
			bootStart := time.Now()
			p = start(t, "amd64", state, port, nil, args...)
			if rng.IntN(6) == 0 {
				// Killed while booting: opening the store, restoring.
				time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				p.kill()
				checkStore(t, dbPath)
				bootKills++
				continue
			}
			p.waitListening(10 * time.Second)
			maxBoot = max(maxBoot, time.Since(bootStart))
			c := servertest.Remote(t, p.url).Dial("")
			c.Send("IDENTIFY", map[string]any{"user_id": "4242"})
			if f := c.Expect("RESUMED"); !strings.Contains(string(f.D), `"77"`) {
				t.Fatalf("cycle %d: RESUMED %s does not hold guild 77", cycle, f.D)
			}
			c.Close()
			r = newREST(p.url, header)
			got, err := observe(t.Context(), r)
			if err != nil {
				t.Fatalf("cycle %d: %v\nlog:\n%s", cycle, err, p.logs)
			}
			d := model.diff(got)
			if d != "" && inFlight != nil {
				applied := model.clone()
				inFlight.apply(applied)
				if applied.diff(got) == "" {
					model, d = applied, ""
					uncertainApplied++
				} else {
					d += fmt.Sprintf(" (nor with the change in flight applied: %s)", inFlight)
				}
			}
			if d != "" {
				t.Fatalf("cycle %d (seed %d): %s\nlog:\n%s", cycle, seed, d, p.logs)
			}
			if strings.Contains(p.logs.String(), loudStoreLog) {
				t.Fatalf("cycle %d: the store was moved aside after a SIGKILL:\n%s", cycle, p.logs)
			}
		} else {
			r = newREST(p.url, header)
		}

		// Traffic until the kill: one change at a time, as a bot does.
		inFlight = nil
		killAfter := time.Duration(20+rng.IntN(230)) * time.Millisecond
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				op := model.next(rng, cycle, i)
				status, body, err := r.do(context.Background(), op.method, op.path, op.body)
				if err != nil {
					inFlight = &op // the node is gone
					return
				}
				if status < 200 || status > 299 {
					t.Errorf("cycle %d: %s answered %d %s", cycle, op, status, body)
					return
				}
				op.apply(model)
				acked++
			}
		})
		time.Sleep(killAfter)
		p.kill()
		wg.Wait()
		r.close()
		if t.Failed() {
			t.FailNow()
		}
		checkStore(t, dbPath)
	}
	if aside, _ := filepath.Glob(dbPath + ".corrupt-*"); len(aside) > 0 {
		t.Errorf("stores moved aside: %v", aside)
	}
	t.Logf("%d SIGKILLs (%d while booting), %d changes acknowledged, all present after every restart; "+
		"%d unacknowledged changes in flight turned out committed; queue now %d entries (%d with a context), options %+v; slowest boot to listening %s; %s in all",
		cycles, bootKills, acked, uncertainApplied, len(model.queue), len(model.itemCtx), model.options, maxBoot.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}
