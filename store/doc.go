// Package store keeps the node's state in one bbolt file, so that sessions,
// voice clients, queues, options, playback positions and uploaded filters
// survive restarts, SIGKILL and power cuts.
//
// # Basics
//
// [Open] opens (or creates) the file; [DB.Update] runs one managed
// read-write transaction whose [Tx] methods write whole records; [DB.Load]
// reads everything back at boot. Every Update is committed (fdatasync'd)
// before it returns: the node acknowledges a change to a bot only after the
// Update that holds it has returned, so an acknowledged change is never lost.
//
// Layout (buckets in brackets):
//
//	[sessions]
//	  [<tag>]                      one client manager ("<user_id>[-<shard_id>]")
//	    manager      -> Manager
//	    [vc]
//	      [<guild_id>]             one voice client
//	        client   -> VoiceClient
//	        order    -> queue order: item keys joined by "\n"
//	        position -> Position (the playback checkpoint)
//	        [items]  <item key> -> opaque item bytes
//	[filters]
//	  <name> -> Filter
//
// Records are versioned JSON owned by this package, never the wire types:
// the node converts. Queue items, options, context and the current source
// are opaque bytes to the store.
//
// # Why a queue is an order key plus one key per item
//
// Writing a 1,000-entry queue as one value on every append would rewrite
// hundreds of kilobytes per change, which an SD card pays for in wear.
// [Tx.SetQueue] writes the order (≤ 40 bytes per entry) and only the items
// whose bytes changed, and deletes the items that left.
//
// # Caveats
//
// A file that cannot be opened or fails bbolt's consistency check at Open is
// renamed aside ("<name>.corrupt-<unix time>") and a fresh file is created;
// Open reports this through [Opened.MovedAside] so that the caller logs it
// loudly. Losing state beats a crash loop on a board nobody is watching.
//
// A second process opening the same file waits at most [Options.LockTimeout]
// and then fails with ErrLocked.
package store
