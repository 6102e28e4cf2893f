package player

import (
	"context"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// Item is one queue entry as the player sees it. Data is the node's own
// value (its AudioData), handed back untouched in every Host call.
type Item struct {
	// Tag identifies the entry in the node's queue (AudioData.tag). Peek
	// results are compared by Tag.
	Tag string
	// Source is what the Opener opens.
	Source audio.Metadata
	// StartPosition is where playback starts (AudioData.start_position,
	// or an AudioSource's position posted back).
	StartPosition time.Duration
	// Data is the node's value, never looked at.
	Data any
}

// StopReason says why a source stopped (Host.SourceStop).
type StopReason string

const (
	// StopEnded: its last sample went out (or it faded out completely
	// in a crossfade it reached naturally).
	StopEnded StopReason = "ended"
	// StopSkipped: Skip ended it (after the crossfade into the next
	// source, or cut when there was none).
	StopSkipped StopReason = "skipped"
	// StopFailed: it failed after it had become audible; a
	// SourceTraceback precedes the stop.
	StopFailed StopReason = "failed"
)

// Host is the node's side of a player; the node's voice client implements
// it. Every call comes from the player's control goroutine, one at a time
// and in the order the things happened, with no player lock held. Calls
// must not block for long (the next events wait); they may call the
// player's methods (QueueChanged after a pop, Current, ...): none of them
// waits for the control goroutine.
type Host interface {
	// Peek returns the head of the queue without removing it; ok is false
	// when the queue is empty. The player peeks to prepare the next source
	// ahead of time; the entry stays in the queue until SourceStart.
	Peek() (it Item, ok bool)
	// SourceStart: the source became audible (its first frame was handed
	// to the voice connection). When it is the queue head (same Tag) the
	// node pops it (QUEUE_EVENT pop [0]) and it becomes the current
	// source; SOURCE_START follows.
	SourceStart(it Item)
	// SourceStop: a source that had started stopped.
	SourceStop(it Item, reason StopReason)
	// RequireNextSource: the queue is empty and the current source is
	// about to end (PreloadTime before its crossfade), once per source.
	RequireNextSource(current Item, autoplay bool)
	// SourceTraceback: the source could not be opened or decoded. When it
	// is the queue head (it never started) the node drops it (QUEUE_EVENT
	// pop [0]), so that the next Peek sees the entry after it.
	SourceTraceback(it Item, err error)
	// PlayerTraceback: anything else the player hit (a panic recovered
	// in one of its goroutines, an encoder error, a second stream for
	// decoding alongside passthrough that would not open). A seek that
	// fails drops the source: SourceTraceback.
	PlayerTraceback(err error)
	// FilterError: the Filter panicked and is bypassed until SetFilter is
	// called again. filter is the Filter's String() when it has one.
	FilterError(filter string, err error)
}

// Opener opens a resolved source; *audio.Resolver satisfies it.
type Opener interface {
	Open(ctx context.Context, md audio.Metadata) (audio.Stream, error)
}

// Filter is the filter chain of one player; the node adapts the WASM
// chain (wasm.Chain satisfies it as it is). Process gets the PCM of one
// 20 ms frame (audio.FrameLen interleaved float32, fewer at the end of the
// audio) and returns the processed samples, possibly of another length
// (timescale): the player re-frames them into 20 ms frames. The result
// may alias the input or the filter's own buffer; it is copied before the
// next call. Reset forgets the filter's state (after a seek or a cut).
//
// Process and Reset are called from the voice connection's send loop with
// the player's lock held; once SetFilter returned, the previous Filter is
// no longer used and may be closed.
type Filter interface {
	Process(pcm []float32) []float32
	Reset()
}
