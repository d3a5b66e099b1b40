package natsjs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsjs"
)

// BenchmarkAppendOneRoom: appends to one room from 16 goroutines spread
// over one or two instances (each its own connection), each append
// answered before the goroutine's next, as a hub's publishers do. It
// reports the requests the stores sent per append: the round trips an
// append costs its publisher.
func BenchmarkAppendOneRoom(b *testing.B) {
	for _, instances := range []int{1, 2} {
		for _, chain := range []bool{true, false} {
			b.Run(fmt.Sprintf("instances=%d/exactgaps=%t", instances, chain), func(b *testing.B) {
				srv := startJS(b)
				name := uniqueName("BENCH")
				o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Stream: name, SubjectPrefix: "bench." + name, ExactGaps: chain}
				stores := make([]*natsjs.History, instances)
				conns := make([]*nats.Conn, instances)
				for i := range stores {
					conns[i] = dial(b, srv.ClientURL())
					stores[i] = newHistory(b, conns[i], o)
				}
				sent := func() (n uint64) {
					for _, nc := range conns {
						n += nc.Stats().OutMsgs
					}
					return n
				}
				before := sent()
				const goroutines = 16
				var next atomic.Int64
				var wg sync.WaitGroup
				data := make([]byte, 64)
				b.ResetTimer()
				for g := range goroutines {
					s := stores[g%instances]
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := s.Append(context.Background(), "room", sockets.TextMessage, data, fmt.Sprint(g, "-", i)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
				// Each request is a round trip: 1 per append unless the
				// server refused a stale guess of the room's last message.
				b.ReportMetric(float64(sent()-before)/float64(b.N), "requests/append")
			})
		}
	}
}

// BenchmarkReadConcurrent: what a storm of joins asks of the store, each
// join reading the last 50 records of one of 100 rooms, 64 reads at a
// time, as a server restart's reconnecting pages do, with rooms keeping
// 100 records or 1000 (the chat keeps 20 times what a joiner gets). It
// reports the messages the reading connection received per read: about
// the 50 records it returns, whatever the room keeps.
func BenchmarkReadConcurrent(b *testing.B) {
	for _, kept := range []int{100, 1000} {
		b.Run(fmt.Sprintf("kept=%d", kept), func(b *testing.B) {
			srv := startJS(b)
			name := uniqueName("READ")
			o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: kept}, Stream: name, SubjectPrefix: "read." + name}
			nc := dial(b, srv.ClientURL())
			h := newHistory(b, nc, o)
			const rooms, concurrency, last = 100, 64, 50
			data := make([]byte, 64)
			var wg sync.WaitGroup
			for r := range rooms {
				wg.Go(func() {
					for i := range kept {
						if _, err := h.Append(context.Background(), fmt.Sprint("room", r), sockets.TextMessage, data, fmt.Sprint(r, "-", i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			var next atomic.Int64
			before := nc.Stats().InMsgs
			b.ResetTimer()
			for range concurrency {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						recs, err := h.Read(context.Background(), fmt.Sprint("room", i%rooms), sockets.Position{}, last)
						if err != nil {
							b.Error(err)
							return
						}
						if len(recs) != last {
							b.Errorf("read %d records, want %d", len(recs), last)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
			b.ReportMetric(float64(nc.Stats().InMsgs-before)/float64(b.N), "msgs/read")
		})
	}
}

// BenchmarkAppendTwoPublishers: two instances append to one room, one
// publisher each, each append answered before the next: the contention
// of two busy instances in one room. Each instance's connection carries
// its publisher's requests only, so the requests an append sent are the
// round trips it cost its publisher; reported: their mean, their 99th
// percentile and their maximum over the run.
func BenchmarkAppendTwoPublishers(b *testing.B) {
	for _, chain := range []bool{true, false} {
		b.Run(fmt.Sprintf("exactgaps=%t", chain), func(b *testing.B) {
			srv := startJS(b)
			name := uniqueName("BENCH")
			o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Stream: name, SubjectPrefix: "bench." + name, ExactGaps: chain}
			var next atomic.Int64
			var wg sync.WaitGroup
			perAppend := make([][]uint64, 2)
			data := make([]byte, 64)
			publishers := make([]func(), 2)
			for p := range publishers {
				nc := dial(b, srv.ClientURL())
				s := newHistory(b, nc, o)
				publishers[p] = func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						before := nc.Stats().OutMsgs
						if _, err := s.Append(context.Background(), "room", sockets.TextMessage, data, fmt.Sprint(p, "-", i)); err != nil {
							b.Error(err)
							return
						}
						perAppend[p] = append(perAppend[p], nc.Stats().OutMsgs-before)
					}
				}
			}
			b.ResetTimer()
			for _, publish := range publishers {
				wg.Go(publish)
			}
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(perAppend...)
			slices.Sort(all)
			var sum uint64
			for _, n := range all {
				sum += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			if len(all) > 0 {
				b.ReportMetric(float64(sum)/float64(len(all)), "requests/append")
				b.ReportMetric(float64(all[len(all)*99/100]), "p99-requests/append")
				b.ReportMetric(float64(all[len(all)-1]), "max-requests/append")
			}
		})
	}
}

// BenchmarkFollowAcrossRooms: 16 goroutines of one instance append to
// two rooms in turn, so that each record of the room followed comes after
// the other room's in the stream, and a follower on another instance
// delivers the room's records. Without ExactGaps the follower asks the
// stream for the room's oldest record and count before delivering them,
// once for all it has received (reported: direct gets per record); with
// it, appends to each room go one at a time. Reported: records of the room delivered a second, from
// the first append to the last delivery.
func BenchmarkFollowAcrossRooms(b *testing.B) {
	for _, exact := range []bool{false, true} {
		b.Run(fmt.Sprintf("exactgaps=%t", exact), func(b *testing.B) {
			srv := startJS(b)
			name := uniqueName("ACROSS")
			// The room keeps every record: a follower behind misses none.
			o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: max(1000, b.N)}, Stream: name, SubjectPrefix: "bench." + name, ExactGaps: exact}
			a := newHistory(b, dial(b, srv.ClientURL()), o)
			gets := newCounter("DIRECT.GET")
			f := newHistory(b, dialCounted(b, srv.ClientURL(), gets), o)
			var delivered atomic.Int64
			all := make(chan struct{})
			want := int64(b.N+1) / 2 // records of room "r": the odd i of 1..b.N
			stop, err := f.Follow("r", func(sockets.Record) {
				if delivered.Add(1) == want {
					close(all)
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			const goroutines = 16
			var next atomic.Int64
			var wg sync.WaitGroup
			data := make([]byte, 64)
			b.ResetTimer()
			for range goroutines {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						room := "r"
						if i%2 == 0 {
							room = "other"
						}
						if _, err := a.Append(context.Background(), room, sockets.TextMessage, data, fmt.Sprint(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if want > 0 {
				select {
				case <-all:
				case <-time.After(time.Minute):
					b.Fatalf("%d of %d records delivered in a minute", delivered.Load(), want)
				}
			}
			b.StopTimer()
			if want > 0 {
				b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(gets.n.Load())/float64(want), "gets/record")
			}
		})
	}
}

// BenchmarkFollowLatencyAcrossRooms: one record at a time, each of room
// "r" after one of another room, appended on one instance and followed on
// another: the time from the start of the append to the delivery, which
// without ExactGaps includes the follower's question (the record came
// after another room's). Reported: its median and 99th percentile.
func BenchmarkFollowLatencyAcrossRooms(b *testing.B) {
	for _, exact := range []bool{false, true} {
		b.Run(fmt.Sprintf("exactgaps=%t", exact), func(b *testing.B) {
			srv := startJS(b)
			name := uniqueName("LATENCY")
			o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Stream: name, SubjectPrefix: "bench." + name, ExactGaps: exact}
			a := newHistory(b, dial(b, srv.ClientURL()), o)
			f := newHistory(b, dial(b, srv.ClientURL()), o)
			delivered := make(chan time.Time, 1)
			stop, err := f.Follow("r", func(sockets.Record) { delivered <- time.Now() })
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			data := make([]byte, 64)
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				if _, err := a.Append(context.Background(), "other", sockets.TextMessage, data, fmt.Sprint("o", i)); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := a.Append(context.Background(), "r", sockets.TextMessage, data, fmt.Sprint("r", i)); err != nil {
					b.Fatal(err)
				}
				select {
				case at := <-delivered:
					took = append(took, at.Sub(start))
				case <-time.After(10 * time.Second):
					b.Fatalf("record %d not delivered in 10 s", i)
				}
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
