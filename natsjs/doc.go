// Package natsjs keeps room history and presence on NATS JetStream, for
// hubs on several server instances: History is a sockets.HistoryStore on a
// stream, Presence a sockets.PresenceStore on a KV bucket.
//
//	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
//	if err != nil { ... }
//	history, err := natsjs.NewHistory(ctx, nc, &natsjs.HistoryOptions{
//		HistoryOptions: sockets.HistoryOptions{Size: 50},
//	})
//	if err != nil { ... }
//	presence, err := natsjs.NewPresence(ctx, nc, nil)
//	if err != nil { ... }
//
// The caller keeps the connection: Close leaves it open. It should
// reconnect forever (nats.MaxReconnects(-1)), so that an outage is
// survived.
//
// Every instance sharing a stream or bucket must use the same settings.
// A constructor that finds its stream or bucket with settings it cannot
// work with returns an error wrapping ErrIncompatible that names the
// setting, and changes nothing: the stream may be someone else's. A server
// without JetStream gives ErrNoJetStream; Presence needs nats-server 2.11
// or later (ErrServerTooOld), for keys that expire with a marker watchers
// see.
//
// # History: the stream
//
// One stream, Stream (default "SOCKETS_HISTORY"), holds every room, on the
// subjects SubjectPrefix.> (default "sockets.history.>"), in files, with
// limits retention: MaxMsgsPerSubject is Size, MaxAge is MaxAge, Discard
// is old, Duplicates is the de-duplication window (2 minutes, or MaxAge
// when shorter). Each room has one subject,
//
//	PREFIX.TOKEN
//
// where TOKEN is the room name in unpadded base64url (RFC 4648 §5, A-Z
// a-z 0-9 - _): any UTF-8 name becomes one valid subject token, and '.',
// '*', '>' and spaces in names mean nothing to NATS.
//
// A message is the payload, byte for byte, with headers: HeaderType
// ("Sockets-Type") the WebSocket message type, 1 (text) or 2 (binary);
// HeaderID ("Sockets-Id") the Append's id in unpadded base64url, so that
// any id travels; and Nats-Msg-Id, the unpadded base64url of the SHA-256 of
// the room name, a NUL byte and the id, so that JetStream de-duplicates an
// id within its room (the stream's de-duplication spans its subjects) and
// the header has one length whatever the id. An empty id has neither, and
// is never de-duplicated. HeaderPrev ("Sockets-Prev"), with
// HistoryOptions.ExactGaps only, names the room's previous message (see
// History: gaps). The record's time is the stream's
// timestamp of the message. A message on a room's subject without a valid
// type header, or with text that is not UTF-8 (not made by Append), is
// skipped.
//
// # History: positions and epochs
//
// A Position's Offset is the message's stream sequence: offsets increase
// within a room, but are not contiguous (the rooms share the sequence).
// Its Epoch is the stream's creation time, in nanoseconds since 1970, in
// base 36. A restarted server that kept its files keeps the stream, and
// so the epoch and every position; a stream deleted and created again, or
// a server that lost its files, has a new epoch, and positions from
// before are refused. Read and Follow read the stream's creation time from
// the server each time; Append labels positions with the epoch last read,
// so positions given out between a re-creation and the next Read carry
// the old epoch and are refused later (ErrCannotRecover, never a gap).
//
// # History: the recovery rule
//
// Records leave a room only oldest first (MaxMsgsPerSubject, MaxAge, and
// any stream-wide limit all drop the oldest). Read(room, since, limit)
// with since not zero is answered as follows:
//
//  1. since.Epoch must be the stream's epoch, and since.Offset at most the
//     stream's last sequence; otherwise ErrCannotRecover.
//  2. The room's messages after since.Offset are read, with an ephemeral
//     consumer filtered on the room's subject (each message once, none
//     skipped: the consumer's sequence is checked), or, with a limit, only
//     the newest of them, with batched direct gets (see History: the last
//     records).
//  3. Then the room's oldest kept message, F, is asked for (a direct get
//     of the first message on the subject). If F <= since.Offset, the
//     records read are complete: the record at since, or an older one of
//     the room, is still kept, so nothing after it was dropped, before or
//     during the read. If F > since.Offset: ErrCannotRecover. If the room
//     keeps nothing: no records, when the stream's last sequence is still
//     at most since.Offset (nothing at all was stored after since);
//     otherwise ErrCannotRecover.
//
// In short: since is recoverable if and only if the record at since, or an
// older record of its room, is still kept when the read ends, or nothing
// was stored after since. This is conservative: from a record that was
// itself just dropped Read answers ErrCannotRecover even if no record after
// it was, since stream sequences cannot tell whether the room had records
// between it and the oldest kept. It never leaves a silent gap. Deleting a
// single message from the middle of a room by hand breaks the premise.
//
// From the zero Position, Read returns the records kept from F on (a
// record dropped during the read is left out with all older ones): once
// the records are read, Read asks for the oldest one it returns again (a
// direct get of its sequence); if it is still kept, so is every one after
// it, and F is not asked for. limit keeps the newest records of the
// result.
//
// # History: the last records
//
// Read with a limit (a join that asks for the room's last 50 records, in a
// room that keeps 1000) reads about limit of the room's messages, not
// every one the room keeps. The stream information Read asks for first
// then also gives the room's number of messages N (a subject filter). From
// N, limit and the stream's first and last sequences, Read guesses the
// sequence S from which the room has a little more than limit messages up
// to the stream's last sequence L, as if the room's messages were spread
// evenly over the stream, and reads the room's messages from S with one
// batched direct get ($JS.API.DIRECT.GET.STREAM with "seq" S,
// "next_by_subj" the room's subject and "batch" half as much again as it
// aims for). The server answers each message with its sequence, its time
// and the number of the room's messages after it, and ends the batch with
// a status. Messages after L are left out (stored after Read began: Follow
// has them). When the guess was far off (the batch was full before L, or
// brought far fewer than limit records), Read searches for where to read
// from with batches of one message, each of which tells how many of the
// room's messages follow it (interpolating, and halving what is left to
// search when a guess did not), then reads from there. When what was read
// still holds fewer than limit records (the room was sparser before, or
// some messages on its subject are not records), Read reads further back
// the same way. Consecutive reads meet exactly, so that every message of
// the room from the first one read to L is read; the rule above then tells
// what was dropped meanwhile. A room whose messages are spread evenly
// costs one batch of about 1.25 limit messages; an uneven one a few more
// requests. From the zero position that makes three requests in all: the
// stream information, through the JetStream API's queue, and two direct
// gets, which the stream answers itself: the batch, and the oldest record
// returned, asked for again (see above).
//
// A stream with more than one replica is read with a consumer, as without
// a limit: any replica may answer a direct get, and one may not have the
// newest messages yet.
//
// # History: following
//
// Follow makes an ordered consumer of the room's subject that starts just
// after the stream's last message at the time of the call, and one
// goroutine that delivers what it gets, in stream order. The ordered
// consumer recreates itself after a reconnect or a server restart, from
// the last message delivered, so that what was stored meanwhile is
// delivered, once and in order, as long as the stream still keeps it. What
// the stream dropped before the follower read it (more than Size messages
// in the room while the follower was behind or cut off, or older than
// MaxAge) is not delivered: the next record delivered says so (Missed).
//
// # History: gaps
//
// A follower that falls behind (more than Size of the room's messages
// stored after the last one it had, or cut off longer than MaxAge) may
// find that the stream dropped messages of the room before it read them:
// the ordered consumer passes over them without a word. The follower
// tells it on the next record it delivers (Missed; the hub then closes
// the room's members with 1013, and they join again since their last
// position). It never misses one. Appends pay nothing for it: each is
// one publish, any number at once.
//
// The follower keeps the sequence of the last message of the room it had
// (or the stream's last when Follow began), S. When the next one, M, is
// S+1, nothing came between. Otherwise (other rooms' messages came
// between, or the stream dropped some of this room's) it asks the stream,
// before it delivers M, for the room's oldest message kept and the
// room's number of messages (one batched direct get of one message of the
// subject, from sequence 1), and rules a gap out when either says so:
//
//   - The oldest is S or older: nothing after S was dropped, since the
//     room's messages leave the stream oldest first.
//   - The room keeps fewer than Size messages, and MaxAge has not passed
//     since Follow began (or there is no MaxAge): had the stream dropped a
//     message for the room's count, the room would have kept Size
//     messages ever since, unless some of them expired; a message after S
//     was stored after Follow began, and expires MaxAge after it was
//     stored. (A stream with limits of its own, MaxMsgs or MaxBytes,
//     drops messages whatever the room's count: this rule is not used
//     there.)
//
// Otherwise a gap is told: there was one, or S itself was dropped while
// nothing between S and M was, which stream sequences cannot tell apart
// (as for Read, "the recovery rule"). A gap is also told when the server
// does not answer.
//
// The answer holds for every message received before it was asked: a
// follower asks once for the record that another room's messages came
// before and for all the messages its consumer has already handed it
// (one round trip while delivering a record, when it keeps up; one for
// up to a few hundred records, when it is behind); a room alone in its
// stream, or whose messages come in runs, asks nothing for most. It tells a gap
// where there was none only when S was dropped and the room keeps Size
// messages or had time to expire some: when the follower is about Size
// behind (in a room that keeps a few records, as soon as it is a few
// behind), and when a room whose messages expire (MaxAge) stays silent
// longer than MaxAge, a follower older than MaxAge then closing its
// members at the next message. Messages that were sent to the follower's
// consumer before the stream dropped them are delivered, and are no sign
// of a gap. The consumer's count of messages pending, which might have
// spared the question, is not used: the server counts the messages it
// stores after it has stored them, and the count can be short by many at
// the moment that matters.
//
// HistoryOptions.ExactGaps tells gaps exactly, at a cost to appends: each
// message names the room's message before it. Append publishes with
// Nats-Expected-Last-Subject-Sequence set to the room's last sequence as
// it believes it to be, and HeaderPrev to the same number. The server
// stores the message only if that is the subject's last sequence at that
// moment (0: the subject keeps no message), and otherwise refuses it
// (error 10071, which says the subject's last sequence, or 10164 on a
// replicated stream with a message of the subject in flight, which does
// not: Append then reads it with a get of the subject's last message), and
// Append publishes again after it. So HeaderPrev of a stored message is
// exactly the room's previous message, whichever instances appended them.
// Each History remembers, per room, the last sequence its acks, the
// server's refusals and its followers showed, and sends that. Appends to
// one room from one History go one at a time (a token per room, waited
// for within the context), so that they never race each other: appending
// alone to a room costs one round trip, but a publisher waits for those
// of the appends queued before it; two instances appending to one room at
// once cost a refused publish and another round trip each time one of
// them was not the last to know, and while the other keeps appending, one
// append may be refused many times in a row (over a hundred in the
// benchmarks: BENCHMARKS.md). A message retried with the same id
// (Nats-Msg-Id) is refused for its stale HeaderPrev, or found a
// duplicate, and then published again after the newest, and found a
// duplicate: de-duplication is unchanged.
//
// A message with HeaderPrev is judged by it, and nothing is asked: a
// HeaderPrev newer than S means a message of the room the follower never
// had; one at most S means that nothing came between (the room's last
// message when this one was stored, at or before S, was still there, so
// nothing after S had been dropped). A message whose HeaderPrev is 0 was
// stored when the room kept no message at all: with MaxAge, a gap of a
// follower more than MaxAge behind before it is not told. Instances with
// and without ExactGaps may share a stream: the messages of the first are
// judged by their HeaderPrev, the others as above. A message deleted
// from the middle of a room by hand breaks the premise, as for Read.
//
// # Presence: the bucket
//
// One KV bucket, Bucket (default "SOCKETS_PRESENCE"), holds every room's
// members, in files, with History 1, TTL the Lease, and LimitMarkerTTL
// (the Lease, at least a second) so that a key that expires leaves a
// delete marker that watchers see. A member's key is
//
//	ROOMTOKEN.KEYTOKEN
//
// (both unpadded base64url, as above), and its value a small JSON object:
// "c" the claim's id (a NUID), "s" when it was claimed (Unix nanoseconds),
// "i" the info (base64).
//
//   - Claim is a KV Create: the atomic claim, one winner among any number
//     of instances (the others get sockets.ErrKeyTaken).
//   - The store renews its claims every third of the Lease, each with a
//     KV Update conditional on the revision it last wrote, which starts
//     the key's TTL over. One goroutine renews every claim of a store.
//   - Release purges the key, conditional on the revision last written (a
//     key another claim holds now is left alone). Close releases every
//     claim of the store.
//   - A key that no one renews (its instance crashed, or lost NATS) is
//     removed by the server a Lease after its last renewal, and the marker
//     it leaves is a leave for the watchers.
//   - Lost is closed when a renewal finds the key gone or holding another
//     claim, or when a Lease has passed since the last renewal that
//     succeeded (the key has expired on the server, or will as soon as the
//     server is back).
//
// Members reads the room's keys with a KV watcher of ROOMTOKEN.* (their
// last values, deletes left out). Watch keeps a KV watcher of ROOMTOKEN.*
// and one goroutine: the keys there when Watch is called are reported as
// joins, on the caller's goroutine, before Watch returns; after that, a key
// written with a new claim id is a join (preceded by a
// leave if another claim held the key); a write with the same claim id is
// a renewal and is not reported; a delete, purge or expiry marker is a
// leave, with the info last known.
//
// # Failures
//
//   - While the connection is down, Append, Read, Follow, Claim and Watch
//     fail at once with ErrNotConnected: nothing is stored, nothing is
//     left to be sent later. A call that was sent but not answered (the
//     connection dropped while it waited, or the server is stuck) fails
//     after Timeout (default 5s), and may have been carried out: an Append
//     retried with the same id is stored once and returns the first
//     position. With nats.go's reconnect buffer (on by default), a call
//     made in the moment before the client notices that the server is
//     gone is kept and sent after the reconnect: it times out, and may be
//     carried out later still. nats.ReconnectBufSize(-1) turns the buffer
//     off, so that such a call is lost with the connection.
//   - Members, while the connection is down or the server does not
//     answer, returns the members it last read for the room with an error
//     wrapping sockets.ErrStale.
//   - Claims are not renewed while the connection is down; those not
//     renewed for a Lease are Lost. A shorter outage costs nothing: the
//     claims are renewed as soon as the connection is back.
//   - A follower cut off longer than the room keeps its messages (more
//     than Size appended meanwhile, or older than MaxAge) resumes with the
//     next message kept, which has Missed set (see History: gaps).
//   - A server restarted with its files keeps the history (positions,
//     epoch, the de-duplication window) and the claims whose lease has not
//     passed; those that passed are expired when it starts. Followers
//     resume after the reconnect (see History: following). Watchers read
//     their room again after each reconnect and report the difference with
//     what they knew: the joins and leaves of the outage come late, and a
//     member who came and went meanwhile is not reported.
//   - Followers and watchers are goroutines of the store; Close stops
//     them, and stop functions wait for them (except when called from
//     their own callback).
package natsjs
