package main

import (
	"context"
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	socketsjs "github.com/macaron-contrib/sockets/client"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

func TestLobbyListsRoomsWithCounts(t *testing.T) {
	ts := newTestServer(t)
	resp, page := get(t, ts.URL+"/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "No one is chatting") || !strings.Contains(page, `action="/join"`) {
		t.Fatalf("empty lobby: %d\n%s", resp.StatusCode, page)
	}

	ts.join(t, "alpha", "ann")
	ts.join(t, "alpha", "bob")
	ts.join(t, "beta", "cat")
	ts.join(t, "<b>x</b>", "dan")
	_, page = get(t, ts.URL+"/")
	for _, want := range []string{
		`<a href="/rooms/alpha"><span class="room-name">alpha</span> <span class="count">2 people</span></a>`,
		`<a href="/rooms/beta"><span class="room-name">beta</span> <span class="count">1 person</span></a>`,
		`<a href="/rooms/%3Cb%3Ex%3C%2Fb%3E"><span class="room-name">&lt;b&gt;x&lt;/b&gt;</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("lobby lacks %s\n%s", want, page)
		}
	}
	if strings.Index(page, ">alpha<") > strings.Index(page, ">beta<") {
		t.Error("the busiest room is not listed first")
	}
}

func TestRoomPage(t *testing.T) {
	ts := newTestServer(t)

	resp, page := get(t, ts.URL+"/rooms/x?name=ann")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{`data-room="x"`, `data-name="ann"`, `<script src="/static/room.js"`, `id="messages"`, `id="members"`, `id="status"`} {
		if !strings.Contains(page, want) {
			t.Errorf("room page lacks %s", want)
		}
	}
	// The library's client comes first, named by its version and checked
	// against its hash.
	script := regexp.MustCompile(`<script src="([^"]*)" integrity="([^"]*)" crossorigin="anonymous" defer></script>\s*<script src="/static/room.js"`).FindStringSubmatch(page)
	if script == nil || script[1] != "/sockets.js?v="+socketsjs.Version() || html.UnescapeString(script[2]) != socketsjs.Integrity() {
		t.Errorf("the room page does not load sockets.js (%s, %s) before room.js: %q", socketsjs.Version(), socketsjs.Integrity(), script)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	// Without a name, or with a bad one, the page asks for one.
	for _, u := range []string{"/rooms/x", "/rooms/x?name=%20", "/rooms/x?name=" + strings.Repeat("n", 33)} {
		resp, page := get(t, ts.URL+u)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="name-form"`) || strings.Contains(page, `id="chat"`) {
			t.Errorf("%s: %d, want the name form\n%s", u, resp.StatusCode, page)
		}
	}

	// Names and rooms are escaped.
	_, page = get(t, ts.URL+`/rooms/%3Cscript%3E?name=%22%3E%3Cimg`)
	if strings.Contains(page, "<script>") || strings.Contains(page, `"><img`) {
		t.Errorf("unescaped user input in\n%s", page)
	}

	if resp, _ := get(t, ts.URL+"/rooms/"+strings.Repeat("r", 65)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("65-character room: %d, want 400", resp.StatusCode)
	}
}

func TestJoinFormRedirects(t *testing.T) {
	ts := newTestServer(t)
	resp, _ := get(t, ts.URL+"/join?room=a%2Fb+c&name=+ann+")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rooms/a%2Fb%20c?name=ann" {
		t.Errorf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := get(t, ts.URL+"/join?room=r&name=")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "invalid name") {
		t.Errorf("empty name: %d\n%s", resp.StatusCode, page)
	}
	// The room the redirect names is served.
	resp, page = get(t, ts.URL+"/rooms/a%2Fb%20c?name=ann")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-room="a/b c"`) {
		t.Errorf("room with a slash: %d\n%s", resp.StatusCode, page)
	}
}

func TestStaticFiles(t *testing.T) {
	ts := newTestServer(t)
	for path, typ := range map[string]string{
		"/static/room.js":  "javascript",
		"/static/lobby.js": "javascript",
		"/static/chat.css": "text/css",
		"/sockets.js":      "javascript",
	} {
		resp, body := get(t, ts.URL+path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), typ) || body == "" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	a, err := newApp(config{Logger: log.New(&syncBuffer{}, "", 0), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := testkit.Serve(t, func(ctx context.Context, ln net.Listener) error { return serve(ctx, ln, a) })

	resp, _ := get(t, "http://"+srv.Addr+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A member is in a room: shutting down closes its socket with 1001.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr+"/sockets/rooms/r/ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	srv.Stop()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue // history, members
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("member's socket on shutdown: got %v, want close 1001", err)
		}
		break
	}
	srv.Wait(t)
	if _, err := net.DialTimeout("tcp", srv.Addr, testkit.Wait); err == nil {
		t.Error("still listening")
	}
}

// The lobby shows 50 rooms a page, busiest first, with links to the next
// and previous pages; a page past the last shows the last.
func TestLobbyIsPaginated(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	for i := range 120 {
		for j := range 1 + i%3 { // rooms of 1, 2 and 3 members
			if _, err := ts.app.stores.presence.Claim(ctx, fmt.Sprintf("room%03d", i), fmt.Sprint("m", j), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	rooms := regexp.MustCompile(`<span class="room-name">(room\d+)</span> <span class="count">(\d) `)
	var seen []string
	for page, want := range []int{50, 50, 20} {
		_, body := get(t, fmt.Sprintf("%s/?page=%d", ts.URL, page+1))
		found := rooms.FindAllStringSubmatch(body, -1)
		if len(found) != want || !strings.Contains(body, fmt.Sprintf("Page %d of 3", page+1)) || !strings.Contains(body, "(120)") {
			t.Fatalf("page %d: %d rooms, want %d:\n%s", page+1, len(found), want, body)
		}
		if (page < 2) != strings.Contains(body, `rel="next" href="/?page=`+fmt.Sprint(page+2)+`"`) || (page > 0) != strings.Contains(body, `rel="prev"`) {
			t.Errorf("page %d: wrong links:\n%s", page+1, body)
		}
		for _, f := range found {
			seen = append(seen, f[2]+" "+f[1])
		}
	}
	distinct := map[string]bool{}
	for _, r := range seen {
		distinct[r] = true
	}
	if !sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i][0] > seen[j][0] }) || len(distinct) != 120 {
		t.Errorf("the rooms are not listed busiest first, each once: %v", seen)
	}
	if _, body := get(t, ts.URL+"/?page=99"); !strings.Contains(body, "Page 3 of 3") {
		t.Errorf("a page past the last:\n%s", body)
	}
}
