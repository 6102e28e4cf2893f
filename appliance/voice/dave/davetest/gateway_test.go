package davetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/voice/dave"
)

type call struct {
	t  *testing.T
	gw *Gateway
	ms map[uint64]*Member
}

func newCall(t *testing.T) *call {
	s, err := NewGoSigner()
	if err != nil {
		t.Fatal(err)
	}
	c := &call{t: t, gw: NewGateway(GatewayConfig{ChannelID: 4242, Signer: s, Logf: t.Logf}), ms: map[uint64]*Member{}}
	t.Cleanup(func() {
		for _, m := range c.ms {
			m.Close()
		}
	})
	return c
}

func (c *call) join(user uint64) *Member {
	c.t.Helper()
	m, err := NewMember(c.gw, user)
	if err != nil {
		c.t.Fatal(err)
	}
	c.ms[user] = m
	c.settle()
	return m
}

func (c *call) leave(user uint64) {
	c.t.Helper()
	if err := c.gw.Disconnect(user); err != nil {
		c.t.Fatal(err)
	}
	c.ms[user].Close()
	delete(c.ms, user)
	c.settle()
}

// settle waits until every member handled everything.
func (c *call) settle() {
	c.t.Helper()
	idle := func() bool {
		for _, m := range c.ms {
			if !m.Idle() {
				return false
			}
		}
		return true
	}
	for range 3 { // idle three times in a row, 20 ms apart
		if !c.gw.Wait(10*time.Second, idle) {
			c.t.Fatal("members never settled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for u, m := range c.ms {
		if errs := m.Errors(); len(errs) > 0 {
			c.t.Fatalf("member %d: %v", u, errs)
		}
	}
}

// hearEachOther checks that every member decrypts every other's frames.
func (c *call) hearEachOther() {
	c.t.Helper()
	epoch := uint64(0)
	first := true
	for u, m := range c.ms {
		st := m.Session.Status()
		if !st.Encrypting {
			c.t.Fatalf("member %d does not encrypt: %+v", u, st)
		}
		if first {
			epoch, first = st.Epoch, false
		} else if st.Epoch != epoch {
			c.t.Fatalf("member %d at epoch %d, another at %d", u, st.Epoch, epoch)
		}
		opus := []byte(fmt.Sprintf("opus frame of %d at epoch %d", u, st.Epoch))
		frame, err := m.Session.EncryptOpus(nil, opus)
		if err != nil || bytes.Equal(frame, opus) {
			c.t.Fatalf("member %d: encrypt %v", u, err)
		}
		for v, o := range c.ms {
			if v == u {
				continue
			}
			got, err := o.Session.Decrypt(u, nil, frame)
			if err != nil || !bytes.Equal(got, opus) {
				c.t.Fatalf("member %d cannot decrypt %d: %v", v, u, err)
			}
		}
	}
}

// TestGatewayScenario runs the DAVE life of a call among Go members with
// the Go signer: creation, joins, a revoke, a leave, an invalid commit, a
// sole-member reset and a downgrade.
func TestGatewayScenario(t *testing.T) {
	NoLeaks(t)
	c := newCall(t)
	a := c.join(1)
	if st := a.Session.Status(); st.Established || st.Encrypting || st.Epoch != 0 {
		t.Fatalf("alone: %+v", st)
	}
	c.join(2)
	c.hearEachOther()
	c.join(3)
	c.hearEachOther()
	if e := c.gw.Epoch(); e != 2 {
		t.Fatalf("epoch %d after two joins", e)
	}

	t.Log("revoke: user 4 leaves before its add is committed")
	c.gw.Hold()
	m4, err := NewMember(c.gw, 4)
	if err != nil {
		t.Fatal(err)
	}
	c.ms[4] = m4
	c.settle()
	c.gw.mu.Lock()
	held := len(c.gw.held)
	c.gw.mu.Unlock()
	if held == 0 {
		t.Fatal("no commit held")
	}
	c.leave(4)
	c.gw.Release()
	c.settle()
	if e := c.gw.Epoch(); e != 2 || c.gw.Pending() != 0 {
		t.Fatalf("after revoke: epoch %d, %d pending", e, c.gw.Pending())
	}
	c.hearEachOther()

	t.Log("leave: user 2")
	c.leave(2)
	c.hearEachOther()

	t.Log("invalid commit to user 3")
	if err := c.gw.SendInvalidCommit(3, c.gw.ForgeCommit(c.gw.Leaves()[1])); err != nil {
		t.Fatal(err)
	}
	c.settle()
	c.hearEachOther()
	if st := c.ms[3].Session.Status(); !slices.Equal(st.Members, []uint64{1, 3}) && !slices.Equal(st.Members, []uint64{3, 1}) {
		t.Fatalf("members after re-add: %v", st.Members)
	}

	t.Log("sole member reset")
	c.leave(3)
	st := a.Session.Status()
	if !st.Encrypting || st.Established || st.Epoch != 0 || !slices.Equal(st.Members, []uint64{1}) {
		t.Fatalf("after reset: %+v", st)
	}
	c.join(5)
	c.hearEachOther()

	t.Log("downgrade")
	if err := c.gw.Downgrade(); err != nil {
		t.Fatal(err)
	}
	c.settle()
	for u, m := range c.ms {
		out, err := m.Session.EncryptOpus(nil, []byte("plain"))
		if err != nil || string(out) != "plain" {
			t.Fatalf("member %d after downgrade: %q %v", u, out, err)
		}
		if got, err := m.Session.Decrypt(99, nil, []byte("plain")); err != nil || string(got) != "plain" {
			t.Fatalf("passthrough receive: %v", err)
		}
	}
	if r := c.gw.Rejected(); len(r) == 0 {
		t.Log("no commit was refused")
	} else {
		t.Logf("refused commits: %q", r)
	}
	_ = dave.OpMLSWelcome
}
