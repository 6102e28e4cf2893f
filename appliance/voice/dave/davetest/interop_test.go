package davetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

// interopCall is a call whose external sender is ts-mls and whose members
// are Go sessions and davey sessions.
type interopCall struct {
	*call
	sc *Sidecar
	dv map[uint64]*DaveyMember
}

func newInteropCall(t *testing.T) *interopCall {
	sc := NeedSidecar(t)
	signer, err := NewTSSigner(sc)
	if err != nil {
		t.Fatal(err)
	}
	c := &interopCall{
		call: &call{t: t, gw: NewGateway(GatewayConfig{ChannelID: 1234567890123, Signer: signer, Logf: t.Logf}), ms: map[uint64]*Member{}},
		sc:   sc,
		dv:   map[uint64]*DaveyMember{},
	}
	t.Cleanup(func() {
		for _, m := range c.ms {
			m.Close()
		}
		for _, d := range c.dv {
			d.Close()
		}
	})
	return c
}

func (c *interopCall) settle() {
	c.t.Helper()
	idle := func() bool {
		for _, m := range c.ms {
			if !m.Idle() {
				return false
			}
		}
		for _, d := range c.dv {
			if !d.Idle() {
				return false
			}
		}
		return true
	}
	for range 3 {
		if !c.gw.Wait(20*time.Second, idle) {
			c.t.Fatal("members never settled")
		}
		time.Sleep(30 * time.Millisecond)
	}
	for u, m := range c.ms {
		if errs := m.Errors(); len(errs) > 0 {
			c.t.Fatalf("go member %d: %v", u, errs)
		}
	}
	for u, d := range c.dv {
		if errs := d.Errors(); len(errs) > 0 {
			c.t.Fatalf("davey member %d: %v", u, errs)
		}
	}
}

func (c *interopCall) joinGo(user uint64) *Member {
	c.t.Helper()
	m, err := NewMember(c.gw, user)
	if err != nil {
		c.t.Fatal(err)
	}
	c.ms[user] = m
	return m
}

func (c *interopCall) joinDavey(user uint64) *DaveyMember {
	c.t.Helper()
	d, err := NewDaveyMember(c.sc, c.gw, user)
	if err != nil {
		c.t.Fatal(err)
	}
	c.dv[user] = d
	return d
}

func (c *interopCall) leave(user uint64) {
	c.t.Helper()
	if err := c.gw.Disconnect(user); err != nil {
		c.t.Fatal(err)
	}
	if m := c.ms[user]; m != nil {
		m.Close()
		delete(c.ms, user)
	}
	if d := c.dv[user]; d != nil {
		d.Close()
		delete(c.dv, user)
	}
	c.settle()
}

// holdAndRelease holds commits until want users submitted one, then
// judges them with prefer's first.
func (c *interopCall) holdAndRelease(act func(), want int, prefer uint64) {
	c.t.Helper()
	c.gw.Hold()
	act()
	if !c.gw.Wait(20*time.Second, func() bool { return len(c.gw.Held()) >= want }) {
		c.t.Fatalf("only %v committed", c.gw.Held())
	}
	c.gw.Release(prefer)
	c.settle()
}

// check verifies that everyone agrees on the epoch (authenticators equal)
// and that every member decrypts every other member's audio, across
// implementations.
func (c *interopCall) check() {
	c.t.Helper()
	var auth []byte
	for u, m := range c.ms {
		st := m.Session.Status()
		if !st.Encrypting || st.Authenticator == nil {
			c.t.Fatalf("go %d: %+v", u, st)
		}
		if auth == nil {
			auth = st.Authenticator
		} else if !bytes.Equal(auth, st.Authenticator) {
			c.t.Fatalf("go %d disagrees on the epoch", u)
		}
	}
	for u, d := range c.dv {
		st, err := d.Status()
		if err != nil {
			c.t.Fatal(err)
		}
		if !bytes.Equal(auth, st.Authenticator) {
			c.t.Fatalf("davey %d at epoch %d disagrees on the authenticator", u, st.Epoch)
		}
	}
	for u, m := range c.ms {
		for range 3 {
			opus := []byte(fmt.Sprintf("\xfcopus from go %d %d", u, time.Now().UnixNano()))
			frame, err := m.Session.EncryptOpus(nil, opus)
			if err != nil {
				c.t.Fatal(err)
			}
			for v, d := range c.dv {
				got, err := d.Decrypt(u, frame)
				if err != nil || !bytes.Equal(got, opus) {
					c.t.Fatalf("davey %d cannot decrypt go %d: %v", v, u, err)
				}
			}
			for v, o := range c.ms {
				if v != u {
					if got, err := o.Session.Decrypt(u, nil, frame); err != nil || !bytes.Equal(got, opus) {
						c.t.Fatalf("go %d cannot decrypt go %d: %v", v, u, err)
					}
				}
			}
		}
	}
	for u, d := range c.dv {
		opus := []byte(fmt.Sprintf("\xfcopus from davey %d", u))
		frame, err := d.Encrypt(opus)
		if err != nil {
			c.t.Fatal(err)
		}
		for v, m := range c.ms {
			if got, err := m.Session.Decrypt(u, nil, frame); err != nil || !bytes.Equal(got, opus) {
				c.t.Fatalf("go %d cannot decrypt davey %d: %v", v, u, err)
			}
		}
	}
}

// TestInteropDavey runs a call of Go and davey members with ts-mls as the
// external sender: davey joins the Go member's group by Welcome, a Go
// member follows davey's add-only and UpdatePath commits, an invalid
// commit makes the Go member rejoin from davey's Welcome, a revoke, a
// sole-member reset and a new davey join.
func TestInteropDavey(t *testing.T) {
	NoLeaks(t)
	c := newInteropCall(t)
	a := c.joinGo(100)
	c.settle()
	c.joinDavey(200)
	c.settle()
	c.check()

	t.Log("a second Go member joins; davey's commit wins")
	c.holdAndRelease(func() { c.joinGo(300) }, 2, 200)
	c.check()

	t.Log("the second Go member leaves; davey's UpdatePath commit wins")
	c.holdAndRelease(func() {
		if err := c.gw.Disconnect(300); err != nil {
			t.Fatal(err)
		}
		c.ms[300].Close()
		delete(c.ms, 300)
	}, 2, 200)
	c.check()

	t.Log("invalid commit to the Go member: it rejoins from davey's Welcome")
	before := c.gw.Accepted()
	if err := c.gw.SendInvalidCommit(100, c.gw.ForgeCommit(c.gw.Leaves()[200])); err != nil {
		t.Fatal(err)
	}
	c.settle()
	if got := c.gw.Accepted() - before; got < 1 {
		t.Fatalf("%d commits after op 31", got)
	}
	c.check()

	t.Log("revoke: a davey member leaves before its add is committed")
	epoch := c.gw.Epoch()
	c.holdAndRelease(func() { c.joinDavey(400) }, 2, 0)
	_ = epoch
	c.check()
	c.gw.Hold()
	c.joinDavey(500)
	if !c.gw.Wait(20*time.Second, func() bool { return len(c.gw.Held()) >= 1 }) {
		t.Fatal("no commit for 500")
	}
	epoch = c.gw.Epoch()
	c.leave(500)
	c.gw.Release()
	c.settle()
	if c.gw.Epoch() != epoch || c.gw.Pending() != 0 {
		t.Fatalf("after revoke: epoch %d (was %d), %d pending; refused %q", c.gw.Epoch(), epoch, c.gw.Pending(), c.gw.Rejected())
	}
	c.check()

	t.Log("sole member reset, then davey joins anew")
	c.leave(400)
	c.leave(200)
	if st := a.Session.Status(); !st.Encrypting || st.Established || !slices.Equal(st.Members, []uint64{100}) {
		t.Fatalf("after reset: %+v", st)
	}
	c.joinDavey(600)
	c.settle()
	c.check()
	t.Logf("refused commits: %q", c.gw.Rejected())
}
