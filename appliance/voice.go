package appliance

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/voice"
)

// voiceRun is one running Discord voice connection of a voice client.
type voiceRun struct {
	conn   *voice.Conn
	cancel context.CancelFunc
}

// connectLocked (re)starts the Discord voice connection when everything it
// needs is known (discord-voice.md section 1.1). m.mu is held.
func (vc *VoiceClient) connectLocked() {
	vc.disconnectLocked()
	n := vc.m.node
	if vc.token == "" || vc.endpoint == "" || vc.sessionID == "" {
		return // waiting for VOICE_SERVER_UPDATE / VOICE_STATE_UPDATE
	}
	if vc.channelID == "" {
		vc.emit(protocol.EventVCError, map[string]any{"code": 0,
			"reason": "the voice channel is unknown: forward the bot's VOICE_STATE_UPDATE (DAVE needs the channel id)"})
		return
	}
	run := &voiceRun{}
	cfg := voice.Config{
		Endpoint:    vc.endpoint,
		GuildID:     id64(vc.guildID),
		ChannelID:   id64(vc.channelID),
		UserID:      id64(vc.m.userID),
		SessionID:   vc.sessionID,
		Token:       vc.token,
		NewE2EE:     n.cfg.NewE2EE,
		TLSConfig:   n.cfg.VoiceTLS,
		Logger:      n.log.With("guild", vc.guildID),
		OnEvent:     func(ev voice.Event) { vc.voiceEvent(run, ev) },
		ObserveSend: n.cfg.ObserveSend,
	}
	if n.cfg.FrameSource != nil {
		cfg.Source = n.cfg.FrameSource(vc.guildID)
	} else {
		vc.startPlayerLocked(vc.resume)
		vc.resume = nil
		if vc.play != nil {
			cfg.Source = vc.play.p
		}
	}
	conn, err := voice.New(cfg)
	if err != nil {
		vc.emit(protocol.EventVCError, map[string]any{"code": 0, "reason": err.Error()})
		return
	}
	ctx, cancel := context.WithCancel(n.life)
	run.conn, run.cancel = conn, cancel
	vc.voice = run
	n.figures.start(run)
	n.running.Add(1)
	go func() {
		defer n.running.Done()
		err := conn.Run(ctx)
		n.figures.end(run)
		vc.voiceEnded(run, ctx, err)
	}()
}

func id64(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

// voiceEvent follows the connection's state for getState.
func (vc *VoiceClient) voiceEvent(run *voiceRun, ev voice.Event) {
	vc.m.mu.Lock()
	defer vc.m.mu.Unlock()
	if vc.voice != run {
		return
	}
	switch ev.Kind {
	case voice.EventReady, voice.EventResumed:
		vc.connected = true
		if !vc.deadline.IsZero() { // connected again: no VC_TIMEOUT pending
			vc.deadline = time.Time{}
			if err := vc.save(); err != nil {
				vc.m.node.log.Error("clearing the voice client's deadline", "guild", vc.guildID, "err", err)
			}
		}
	case voice.EventReconnecting:
		vc.connected = false
		vc.m.node.log.Info("the Discord voice connection is reconnecting", "guild", vc.guildID,
			"code", ev.Code, "resume", ev.Resume, "err", ev.Err)
	}
}

// voiceEnded reports a connection that ended for good with VC_ERROR and
// starts the voice client's VC_TIMEOUT: without a new VOICE_SERVER_UPDATE
// by then it is destroyed (node-protocol.md section 6, VC_ERROR).
func (vc *VoiceClient) voiceEnded(run *voiceRun, ctx context.Context, err error) {
	vc.m.mu.Lock()
	defer vc.m.mu.Unlock()
	if vc.voice != run {
		return // replaced or stopped on purpose
	}
	vc.voice = nil
	vc.connected = false
	if ctx.Err() != nil || err == nil {
		return
	}
	code := 0
	reason := err.Error()
	if ce, ok := errors.AsType[*voice.CloseError](err); ok {
		code = ce.Code
		if ce.Reason != "" {
			reason = ce.Reason + " (" + voice.CloseCodeText(code) + ")"
		} else {
			reason = voice.CloseCodeText(code)
		}
	}
	n := vc.m.node
	n.log.Warn("the Discord voice connection ended", "guild", vc.guildID, "code", code, "err", err)
	vc.emit(protocol.EventVCError, map[string]any{"code": code, "reason": reason})
	if d := time.Now().Add(n.cfg.VCTimeout); vc.deadline.IsZero() || d.Before(vc.deadline) {
		vc.deadline = d // an earlier deadline still pending is kept
	}
	if err := vc.save(); err != nil {
		n.log.Error("storing the voice client's deadline", "guild", vc.guildID, "err", err)
	}
	n.poke()
}

// followChannelLocked moves a running connection to another channel of
// the same voice server, or starts one. m.mu is held.
func (vc *VoiceClient) followChannelLocked() {
	if vc.voice == nil {
		vc.connectLocked()
		return
	}
	if err := vc.voice.conn.SetChannel(id64(vc.channelID)); err != nil {
		vc.connectLocked()
	}
}

// disconnectLocked stops the voice connection, if any. m.mu is held.
func (vc *VoiceClient) disconnectLocked() {
	if vc.voice != nil {
		vc.voice.conn.Close()
		vc.voice.cancel()
		vc.voice = nil
	}
	vc.connected = false
}
