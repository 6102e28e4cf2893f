package protocol

// Ops a client sends (section 4).
const (
	OpHeartbeat    = "HEARTBEAT"
	OpGetStatus    = "GET_STATUS"
	OpIdentify     = "IDENTIFY"
	OpDiscordEvent = "DISCORD_EVENT"
	OpGetState     = "getState"
	OpGetQueue     = "getQueue"
	OpVCDestroy    = "VC_DESTROY"
	OpSubtitle     = "requestSubtitle"
)

// Ops and events the node sends (sections 2, 3, 6).
const (
	OpHello        = "HELLO"
	OpForbidden    = "FORBIDDEN"
	OpHeartbeatAck = "HEARTBEAT_ACK"
	OpIdentified   = "IDENTIFIED"
	OpResumed      = "RESUMED"
	OpStatus       = "STATUS"
	OpError        = "ERROR"

	EventVCCreated         = "VC_CREATED"
	EventVCChannelEdited   = "VC_CHANNEL_EDITED"
	EventVCDestroyed       = "VC_DESTROYED"
	EventVCError           = "VC_ERROR"
	EventQueue             = "QUEUE_EVENT"
	EventPutSource         = "putSource"
	EventLoadSource        = "loadSource"
	EventSourceStart       = "SOURCE_START"
	EventSourceStop        = "SOURCE_STOP"
	EventRequireNextSource = "REQUIRE_NEXT_SOURCE"
	EventSourceTraceback   = "SOURCE_TRACEBACK"
	EventPlayerTraceback   = "PLAYER_TRACEBACK"
	EventFilterError       = "FILTER_ERROR"
)

// QUEUE_EVENT names (section 6). Only these five are emitted: discodo.js
// applies extend, clear and remove wrongly.
const (
	QueueAppend  = "append"
	QueueInsert  = "insert"
	QueueSetItem = "setItem"
	QueueDelItem = "delItem"
	QueuePop     = "pop"
)

// Error kinds of tracebacks (section 5) and REST errors.
const (
	KindNotIdentified      = "NOT_IDENTIFIED"
	KindAlreadyIdentified  = "ALREADY_IDENTIFIED"
	KindVoiceClientMissing = "VoiceClientNotFound"
	KindNotPlaying         = "NotPlaying"
	KindBadRequest         = "BadRequest"
	KindInternal           = "Internal"
	KindUnknownOp          = "UnknownOp"
	KindNotJSON            = "NotJSON"
	KindFrameTooLarge      = "FrameTooLarge"
	KindNotSupported       = "NotSupported"
)

// MaxFrameBytes is the largest frame the node reads or sends by default
// (section 1: larger frames break the Python client's websocket library).
const MaxFrameBytes = 1 << 20

// Close codes the node sends on /ws. 4000–4999 is the application range of
// RFC 6455; 1009 is the standard "message too big".
const (
	CloseNormal           = 1000
	CloseGoingAway        = 1001 // the node is shutting down
	CloseTooLarge         = 1009 // a frame over the size limit (after an ERROR frame)
	CloseForbidden        = 4001 // missing or wrong Authorization (after FORBIDDEN)
	CloseTooSlow          = 4008 // the client does not read its events fast enough
	CloseHeartbeatTimeout = 4009 // nothing received for heartbeat_timeout
)

// QueueState values of getState's "state" (section 7, observed as integers).
const (
	StateDisconnected = 0
	StateStopped      = 1
	StatePaused       = 2
	StatePlaying      = 3
)
