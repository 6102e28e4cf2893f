package voice

// action is what the connection does after the websocket closed.
type action int

const (
	actResume   action = iota + 1 // op 7 on a new socket, same UDP, key and E2EE
	actIdentify                   // op 0 on a new socket: new SSRC, key and E2EE
	actStop                       // Run returns a *CloseError
)

func (a action) String() string {
	switch a {
	case actResume:
		return "resume"
	case actIdentify:
		return "identify"
	case actStop:
		return "stop"
	}
	return "?"
}

// closeAction follows the table of discord-voice.md §1.9:
//
//	< 4000 (1000, 1001, 1006, network)         resume
//	4015 voice server crashed                  resume
//	4006 session no longer valid               identify (then give up, see Conn.Run)
//	4009 session timeout                       identify
//	4004 4011 4014 4021 4022                   stop, tell the bot
//	4001 4002 4003 4005 4012 4016 4017 4020    stop: our bug, never in a loop
//	any other 4xxx                             stop (unknown codes are not retried blindly)
func closeAction(code int) action {
	switch {
	case code < 4000:
		return actResume
	case code == 4015:
		return actResume
	case code == 4006, code == 4009:
		return actIdentify
	}
	return actStop
}

// CloseCodeText names a voice gateway close code (discord-voice.md §1.9).
func CloseCodeText(code int) string {
	switch code {
	case 1000:
		return "normal closure"
	case 1001:
		return "going away"
	case 1006:
		return "abnormal closure"
	case 4001:
		return "unknown opcode"
	case 4002:
		return "failed to decode payload"
	case 4003:
		return "not authenticated"
	case 4004:
		return "authentication failed"
	case 4005:
		return "already authenticated"
	case 4006:
		return "session no longer valid"
	case 4009:
		return "session timeout"
	case 4011:
		return "server not found"
	case 4012:
		return "unknown protocol"
	case 4014:
		return "disconnected"
	case 4015:
		return "voice server crashed"
	case 4016:
		return "unknown encryption mode"
	case 4017:
		return "E2EE/DAVE protocol required"
	case 4020:
		return "bad request"
	case 4021:
		return "rate limited"
	case 4022:
		return "call terminated"
	}
	return "unknown"
}
