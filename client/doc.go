// Package client serves sockets.js, the browser side of package sockets: a
// small WebSocket client, shared by every page, that reconnects with
// exponential backoff and jitter (waiting while the page is offline or
// hidden), resumes since the last position it saw (the "pos" that a Hub
// with history puts in each frame, see Hub.JoinSince), dispatches JSON
// frames by type and queues what is sent while disconnected. It never
// touches the page's HTML: frames reach the page as data. sockets.d.ts,
// served beside it, declares its API for TypeScript.
//
// Mount Handler where pages load the script, and give them Version and
// Integrity:
//
//	m.Get("/sockets.js", client.Handler())
//	m.Get("/sockets.d.ts", client.Handler())
//
//	<script src="/sockets.js?v={{.Version}}" integrity="{{.Integrity}}"></script>
//
// The script is embedded in the Go binary: nothing is built or installed,
// and its content changes only with the module's version.
//
// # Caching
//
// Every answer carries a strong ETag of the content, and a request with a
// matching If-None-Match gets 304. A URL with ?v=Version() names this exact
// content, so it is cached for a year as immutable; any other URL (no v, or
// another release's) must be revalidated at each use (no-cache), so that a
// page rendered after an upgrade never runs the old script from a cache,
// which its integrity attribute would refuse.
package client
