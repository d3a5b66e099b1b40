package sockets

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

type benchMessage struct {
	Seq  int    `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
}

var benchPayload = []byte(`{"seq":12345,"from":"somebody","text":"hello, this is a 64-byte-ish message"}`)

func BenchmarkCodecs(b *testing.B) {
	jc := jsonCodec(reflect.TypeOf(benchMessage{}))
	b.Run("string/decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			stringCodec.decode(websocket.TextMessage, benchPayload)
		}
	})
	b.Run("string/encode", func(b *testing.B) {
		b.ReportAllocs()
		s, dst := string(benchPayload), make([]byte, 0, 256)
		for i := 0; i < b.N; i++ {
			_, dst, _ = stringCodec.encode(dst[:0], s)
		}
	})
	b.Run("bytes/decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			bytesCodec.decode(websocket.BinaryMessage, benchPayload)
		}
	})
	b.Run("bytes/encode", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 256)
		for i := 0; i < b.N; i++ {
			_, dst, _ = bytesCodec.encode(dst[:0], benchPayload)
		}
	})
	b.Run("json/decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := jc.decode(websocket.TextMessage, benchPayload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json/encode", func(b *testing.B) {
		b.ReportAllocs()
		v, _ := jc.decode(websocket.TextMessage, benchPayload)
		dst := make([]byte, 0, 256)
		for i := 0; i < b.N; i++ {
			_, dst, _ = jc.encode(dst[:0], v)
		}
	})
}

// BenchmarkHubPublish1000 publishes to a room of 1000 in-process members
// (queues drained in the loop, as their writers would).
func BenchmarkHubPublish1000(b *testing.B) {
	h, _ := NewHub(nil)
	var members []*Conn
	for i := 0; i < 1000; i++ {
		c := newConnForBench(b)
		h.Join("room", c)
		members = append(members, c)
	}
	spares := make([][]queuedFrame, len(members))
	msg := []byte(strings.Repeat("x", 64))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Publish("room", websocket.TextMessage, msg)
		for j, c := range members {
			spares[j] = c.queue.take(spares[j])[:0]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(members)), "ns/delivery")
}

// BenchmarkEchoRoundTrip measures one message through the whole channel
// layer and back over loopback: client frame, reader, receiver, handler,
// sender, writer, client.
func BenchmarkEchoRoundTrip(b *testing.B) {
	for _, binding := range []string{"Messages", "JSON"} {
		b.Run(binding, func(b *testing.B) {
			var ts *testServer
			if binding == "Messages" {
				ts = newTestServer(b, Messages(quiet()), echoStrings)
			} else {
				ts = newTestServer(b, JSON(benchMessage{}, quiet()), func(r <-chan *benchMessage, s chan<- *benchMessage, done <-chan bool) {
					for {
						select {
						case m := <-r:
							s <- m
						case <-done:
							return
						}
					}
				})
			}
			ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer ws.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := ws.WriteMessage(websocket.TextMessage, benchPayload); err != nil {
					b.Fatal(err)
				}
				if _, _, err := ws.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			ws.Close()
			<-ts.finished
		})
	}
}

func newConnForBench(b *testing.B) *Conn {
	opts, err := prepareOptions([]*Options{{HubQueueSize: 4}})
	if err != nil {
		b.Fatal(err)
	}
	return newConn(nil, nil, nil, opts)
}

// BenchmarkReadFlood measures the reading side under a flood: a client
// sends 512-byte messages as fast as it can, the handler takes them.
func BenchmarkReadFlood(b *testing.B) {
	got := make(chan struct{}, 1)
	n := 0
	ts := newTestServer(b, Messages(quiet()), func(receiver <-chan string, done <-chan bool) {
		for {
			select {
			case <-receiver:
				n++
				if n == b.N {
					got <- struct{}{}
				}
			case <-done:
				return
			}
		}
	})
	ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	msg := bytes.Repeat([]byte("x"), 512)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			b.Fatal(err)
		}
	}
	<-got
	b.StopTimer()
	ws.Close()
	<-ts.finished
}
