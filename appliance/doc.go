// Package appliance is the node: client managers (one per bot session tag),
// their voice clients (one per guild), the queues, options and contexts of
// those voice clients, and the persistence that lets all of it survive a
// restart. The websocket and REST server (package server) drives it; the
// Discord voice connection and the player plug in below it.
//
// # Lifecycle
//
// [New] restores every stored session from the store and starts nothing.
// [Node.Run] runs the janitor (VC_TIMEOUT deadlines) and owns every
// goroutine the node starts (voice connections); when its context ends it
// stops them all and waits for them. Methods are safe for concurrent use
// while Run runs.
//
// A socket joins a manager with [Node.Identify] and leaves with
// [Manager.Leave]. When the last socket of a tag leaves, the manager's
// deadline becomes now + VC_TIMEOUT and is persisted; the janitor destroys
// the manager at that instant unless a socket identifies first. A restart
// keeps deadlines that were counting down, gives tags whose sockets were
// open at the crash start-up + VC_TIMEOUT, and destroys tags whose deadline
// passed while the node was down (node-protocol.md section 2.7).
//
// # Persistence
//
// Every change to managers, voice clients, queues, options and context is
// committed to the store before the change becomes visible in memory and
// before any event or answer about it is sent: an acknowledged change is
// never lost, and a failed commit leaves memory as it was.
//
// # Locking
//
// Node.mu guards the map of managers and the janitor's view of deadlines;
// Manager.mu guards everything under one manager, including its voice
// clients. The order is always Node.mu before Manager.mu. Store commits
// happen under Manager.mu, so that the order of commits, memory changes and
// events is the same for everyone watching one manager. Events are handed
// to subscribers under Manager.mu too: a Subscriber's Send never blocks.
//
// # Why events are encoded once
//
// Several sockets may watch one tag (section 2.6). Each event is encoded
// once and the same bytes are queued on every socket, so a busy manager
// costs one marshal per event whatever the number of watchers.
package appliance
