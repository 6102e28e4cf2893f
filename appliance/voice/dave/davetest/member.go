package davetest

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/discodo-go/discodo/appliance/voice/dave"
)

// Member is an in-process DAVE client: a dave.Session wired to a Gateway
// through a queue, as a voice connection would be. Its goroutine delivers
// the gateway's messages in order; Close stops it and waits.
type Member struct {
	UserID  uint64
	Session *dave.Session
	gw      *Gateway

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []queued
	closed bool
	busy   bool
	errs   []error
	done   chan struct{}
}

type queued struct {
	op   int
	body []byte
}

// NewMember connects a new member to gw: op 4 with version 1, then the
// gateway's Connect.
func NewMember(gw *Gateway, user uint64) (*Member, error) {
	m := &Member{UserID: user, gw: gw, done: make(chan struct{})}
	m.cond = sync.NewCond(&m.mu)
	s, err := dave.New(dave.Config{
		UserID: user, ChannelID: gw.cfg.ChannelID,
		Send: func(op int, payload []byte, _ bool) error {
			return gw.ClientOp(user, op, payload)
		},
	})
	if err != nil {
		return nil, err
	}
	m.Session = s
	// Op 4 first in the queue, but nothing runs before the gateway knows
	// the member, or its key package would reach a gateway that drops it.
	m.push(dave.OpSessionDescription, nil)
	if err := gw.Connect(user, m); err != nil {
		return nil, err
	}
	go m.run()
	return m, nil
}

func (m *Member) push(op int, body []byte) {
	m.mu.Lock()
	m.queue = append(m.queue, queued{op, body})
	m.cond.Signal()
	m.mu.Unlock()
}

// SendJSON implements Peer.
func (m *Member) SendJSON(op int, d any) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	m.push(op, b)
	return nil
}

// SendBinary implements Peer.
func (m *Member) SendBinary(op int, body []byte) error {
	m.push(op, append([]byte(nil), body...))
	return nil
}

func (m *Member) run() {
	defer close(m.done)
	for {
		m.mu.Lock()
		for len(m.queue) == 0 && !m.closed {
			m.cond.Wait()
		}
		if m.closed {
			m.mu.Unlock()
			return
		}
		q := m.queue[0]
		m.queue = m.queue[1:]
		m.busy = true
		m.mu.Unlock()
		var err error
		if q.op == dave.OpSessionDescription {
			err = m.Session.Start(1)
		} else {
			err = m.Session.Handle(q.op, q.body)
		}
		m.mu.Lock()
		if err != nil {
			m.errs = append(m.errs, fmt.Errorf("op %d: %w", q.op, err))
		}
		m.busy = false
		m.mu.Unlock()
		m.gw.mu.Lock()
		m.gw.notify()
		m.gw.mu.Unlock()
	}
}

// Idle reports whether the member has handled everything sent to it.
func (m *Member) Idle() bool { m.mu.Lock(); defer m.mu.Unlock(); return len(m.queue) == 0 && !m.busy }

// Errors returns what Handle returned.
func (m *Member) Errors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.errs...)
}

// Close stops the member's goroutine (it does not disconnect it).
func (m *Member) Close() {
	m.mu.Lock()
	m.closed = true
	m.cond.Signal()
	m.mu.Unlock()
	<-m.done
}
