package natsjs_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsjs"
)

// BenchmarkAppendOneRoom: appends to one room from 16 goroutines spread
// over one or two instances (each its own connection), each append
// answered before the goroutine's next, as a hub's publishers do.
func BenchmarkAppendOneRoom(b *testing.B) {
	for _, instances := range []int{1, 2} {
		for _, chain := range []bool{true, false} {
			b.Run(fmt.Sprintf("instances=%d/gapcheck=%t", instances, chain), func(b *testing.B) {
				srv := startJS(b)
				name := uniqueName("BENCH")
				o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Stream: name, SubjectPrefix: "bench." + name, NoGapCheck: !chain}
				stores := make([]*natsjs.History, instances)
				for i := range stores {
					stores[i] = newHistory(b, dial(b, srv.ClientURL()), o)
				}
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
			})
		}
	}
}
