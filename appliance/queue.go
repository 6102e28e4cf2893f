package appliance

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/store"
)

// queueEvent is one QUEUE_EVENT: name and args, applied by clients to their
// copy of the queue in order (node-protocol.md section 6).
type queueEvent struct {
	name string
	args []any
}

// commitQueueLocked persists next as the queue, then makes it the queue and
// emits the events. On a store error nothing changes. m.mu is held.
func (vc *VoiceClient) commitQueueLocked(next []entry, events []queueEvent) error {
	items := storeItems(next)
	if err := vc.m.node.update(func(tx *store.Tx) error { return tx.SetQueue(vc.m.tag, vc.guildID, items) }); err != nil {
		return fmt.Errorf("storing the queue of %s: %w", vc.guildID, err)
	}
	vc.queue = next
	if vc.play != nil {
		vc.play.p.QueueChanged()
	}
	for _, ev := range events {
		vc.emit(protocol.EventQueue, map[string]any{"name": ev.name, "args": ev.args})
	}
	return nil
}

func storeItems(q []entry) []store.Item {
	items := make([]store.Item, len(q))
	for i, e := range q {
		items[i] = store.Item{Key: e.key, Data: e.enc}
	}
	return items
}

func (vc *VoiceClient) queueBytes() int {
	n := 0
	for _, e := range vc.queue {
		n += len(e.enc)
	}
	return n
}

// PutSource appends sources to the queue (POST /putSource) and returns them
// as stored (with their tags).
func (vc *VoiceClient) PutSource(sources []protocol.AudioData) ([]protocol.AudioData, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	cfg := vc.m.node.cfg
	if len(vc.queue)+len(sources) > cfg.MaxQueue {
		return nil, fmt.Errorf("%w: it holds %d entries; %d more would pass the limit of %d", ErrQueueFull, len(vc.queue), len(sources), cfg.MaxQueue)
	}
	next := append(make([]entry, 0, len(vc.queue)+len(sources)), vc.queue...)
	size := vc.queueBytes()
	var events []queueEvent
	for _, s := range sources {
		e, err := newEntry(s)
		if err != nil {
			return nil, err
		}
		size += len(e.enc)
		next = append(next, e)
		events = append(events, queueEvent{protocol.QueueAppend, []any{json.RawMessage(e.enc)}})
	}
	if size > cfg.MaxQueueBytes {
		return nil, fmt.Errorf("%w: the queue would encode to %d bytes; the limit is %d", ErrQueueFull, size, cfg.MaxQueueBytes)
	}
	if err := vc.commitQueueLocked(next, events); err != nil {
		return nil, err
	}
	vc.emit(protocol.EventPutSource, map[string]any{"sources": sources})
	return sources, nil
}

// findLocked resolves a queue reference: an integer index (negative counts
// from the end) or a tag (the first entry with it). m.mu is held.
func (vc *VoiceClient) findLocked(ref string) (int, error) {
	if i, err := strconv.Atoi(ref); err == nil {
		if i < 0 {
			i += len(vc.queue)
		}
		if i < 0 || i >= len(vc.queue) {
			return 0, fmt.Errorf("%w: no entry at index %s (the queue holds %d)", ErrQueueItemNotFound, ref, len(vc.queue))
		}
		return i, nil
	}
	for i, e := range vc.queue {
		if e.data.Tag == ref {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: no entry with tag %q", ErrQueueItemNotFound, protocol.TrimUTF8(ref, 64))
}

// Item returns one queue entry by index or tag.
func (vc *VoiceClient) Item(ref string) (json.RawMessage, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	i, err := vc.findLocked(ref)
	if err != nil {
		return nil, err
	}
	return vc.queue[i].enc, nil
}

// ItemUpdate is POST /queue/{ref}'s body.
type ItemUpdate struct {
	Index         *int            `json:"index"`
	Context       json.RawMessage `json:"context"`
	StartPosition *float64        `json:"start_position"`
}

// UpdateItem moves an entry (index, Python list.insert semantics after
// removal), and sets its context and start position. The events are
// delItem + insert for a move and setItem for a change in place.
func (vc *VoiceClient) UpdateItem(ref string, u ItemUpdate) (json.RawMessage, error) {
	var ctx json.RawMessage
	if u.Context != nil {
		var err error
		if ctx, err = protocol.NormalizeContext(u.Context); err != nil {
			return nil, err
		}
	}
	if u.StartPosition != nil && *u.StartPosition < 0 {
		return nil, badRequest("start_position must be ≥ 0, not %g", *u.StartPosition)
	}
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	i, err := vc.findLocked(ref)
	if err != nil {
		return nil, err
	}
	e := vc.queue[i]
	if ctx != nil || u.StartPosition != nil {
		a := e.data
		if ctx != nil {
			a.Context = ctx
		}
		if u.StartPosition != nil {
			a.StartPosition = *u.StartPosition
		}
		enc, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		if len(enc) > protocol.MaxItemBytes {
			return nil, badRequest("the entry would encode to %d bytes; the limit is %d", len(enc), protocol.MaxItemBytes)
		}
		if size := vc.queueBytes() - len(e.enc) + len(enc); size > vc.m.node.cfg.MaxQueueBytes {
			return nil, fmt.Errorf("%w: the queue would encode to %d bytes; the limit is %d", ErrQueueFull, size, vc.m.node.cfg.MaxQueueBytes)
		}
		e.data, e.enc = a, enc
	}
	next := append([]entry(nil), vc.queue...)
	var events []queueEvent
	if u.Index != nil {
		next = append(next[:i], next[i+1:]...)
		j := *u.Index
		if j < 0 {
			j += len(next)
		}
		j = max(0, min(j, len(next)))
		next = append(next[:j], append([]entry{e}, next[j:]...)...)
		events = append(events,
			queueEvent{protocol.QueueDelItem, []any{i}},
			queueEvent{protocol.QueueInsert, []any{j, json.RawMessage(e.enc)}})
	} else {
		next[i] = e
		events = append(events, queueEvent{protocol.QueueSetItem, []any{i, json.RawMessage(e.enc)}})
	}
	if err := vc.commitQueueLocked(next, events); err != nil {
		return nil, err
	}
	return e.enc, nil
}

// RemoveItem deletes one entry and returns it with the remaining queue.
func (vc *VoiceClient) RemoveItem(ref string) (json.RawMessage, []json.RawMessage, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	i, err := vc.findLocked(ref)
	if err != nil {
		return nil, nil, err
	}
	removed := vc.queue[i]
	next := append(append([]entry(nil), vc.queue[:i]...), vc.queue[i+1:]...)
	if err := vc.commitQueueLocked(next, []queueEvent{{protocol.QueueDelItem, []any{i}}}); err != nil {
		return nil, nil, err
	}
	return removed.enc, vc.entriesLocked(), nil
}

// Shuffle shuffles the queue; each position that changed is one setItem.
func (vc *VoiceClient) Shuffle() ([]json.RawMessage, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	next := append([]entry(nil), vc.queue...)
	rand.Shuffle(len(next), func(i, j int) { next[i], next[j] = next[j], next[i] })
	var events []queueEvent
	for i := range next {
		if next[i].key != vc.queue[i].key {
			events = append(events, queueEvent{protocol.QueueSetItem, []any{i, json.RawMessage(next[i].enc)}})
		}
	}
	if err := vc.commitQueueLocked(next, events); err != nil {
		return nil, err
	}
	return vc.entriesLocked(), nil
}
