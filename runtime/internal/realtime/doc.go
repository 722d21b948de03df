// Package realtime is the runtime's realtime hub: the site's one WebSocket
// endpoint (/ws), the topics modules own, and the fan-out of the events
// they publish to every replica's subscribers.
//
// # Topics and modules
//
// A topic belongs to the running module whose manifest's Topics cover it
// (manifest.TopicAllowed; the first such module in start order). A client
// subscribes by sending a subscribe frame; the hub asks the owning module
// once, with a host call on abi.RealtimeSubscribePath for the connection's
// user, and a 2xx answer allows it; anything else (404, 403, a trap, a
// timeout) refuses. Nothing is cached: the next subscription asks again. A
// client message on a topic it subscribed to goes to the owning module as
// one call on abi.RealtimeMessagePath, with the sender as user.
//
// # Events
//
// A module publishes with the host service "realtime.publish" (Hub.Service)
// to a topic its manifest declares. The event is appended to
// websonic.realtime_events under a table lock (ids are therefore assigned
// in commit order) and the site's "realtime" pgnotify channel is notified.
// Every replica's hub reads the events after the last it saw, in batches,
// and hands each one, encoded once, to the send queue of every subscriber:
// a wake-up carries no payload, so events of any size (up to
// Limits.MaxEventBytes) cross replicas. The table keeps a bounded window
// (Limits.Retention, Limits.RetainEvents); the horizon row records what
// was swept so that a late client is told to reload instead of silently
// missing events.
//
// # Delivery contract
//
// Each subscription has a cursor, the id of the last event it was given;
// an event reaches it only if its id is above the cursor, so nothing is
// given twice. A subscribe frame with last_id catches up from the table
// first (while live events are held back for it), and switches to live
// delivery once no event it skipped lies beyond what it read: events come
// in id order, with no gap, or a reload frame says that the gap cannot be
// filled. The fan-out never blocks: a subscriber's queue that is full
// (Limits.SendQueue) drops that connection with close code 1013, and the
// others go on.
//
// Each event's frame is built once and shared by every subscriber. A
// connection's writer is woken when its queue turns non-empty (once per
// run of events the hub dispatches) and sends what it finds: a run of
// event frames goes as one events frame (at most 32 KiB), so a client
// that is behind costs one write per wake-up, not one per event.
//
// # Sessions
//
// A connection is made with the session of its upgrade request. The hub
// listens to the site's user events (package site): a kick or a ban closes
// the user's sockets; any other event, and a periodic sweep, re-checks
// each of the user's sockets' session (Identity.Alive) and closes those
// whose session no longer resolves to that user, with the roles it was
// opened with (close code 4001).
//
// A Hub is safe for concurrent use. Limits are per replica.
package realtime
