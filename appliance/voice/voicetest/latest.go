package voicetest

import "errors"

// ErrNoSession is returned by the shortcuts below before any Identify.
var ErrNoSession = errors.New("voicetest: no session yet")

// The shortcuts below act on the latest session (Server.Session), which
// is what most single-client tests want.

// Mode is the latest session's transport mode ("" if none).
func (s *Server) Mode() string {
	if ss := s.Session(); ss != nil {
		return ss.Mode()
	}
	return ""
}

// Packets returns the latest session's received packets.
func (s *Server) Packets() []Packet {
	if ss := s.Session(); ss != nil {
		return ss.Packets()
	}
	return nil
}

// PCM returns the latest session's decoded audio.
func (s *Server) PCM() []int16 {
	if ss := s.Session(); ss != nil {
		return ss.PCM()
	}
	return nil
}

// SendJSON sends a numbered JSON op on the latest session.
func (s *Server) SendJSON(op int, d any) error {
	if ss := s.Session(); ss != nil {
		return ss.SendJSON(op, d)
	}
	return ErrNoSession
}

// SendBinary sends a numbered binary op on the latest session.
func (s *Server) SendBinary(op int, payload []byte) error {
	if ss := s.Session(); ss != nil {
		return ss.SendBinary(op, payload)
	}
	return ErrNoSession
}

// CloseWith closes the latest session's socket with code.
func (s *Server) CloseWith(code int, reason string) error {
	if ss := s.Session(); ss != nil {
		ss.CloseWith(code, reason)
		return nil
	}
	return ErrNoSession
}
