// Command report turns the JSON result lines of loadgen runs (and of
// logbench's, its -label as the server) into a table: for each scenario
// metric and server, the median over the runs that were OK, the min–max
// range over them and the ratio of the median to the baseline server's
// median. Runs marked NOT OK (loss, error, timeout) are
// counted in "runs ok" and listed in the notes, but their numbers stay out
// of the statistics: a run that stalled or dropped subscribers measures
// something else.
//
//	report [-baseline gorillahub] [FILE...]   # stdin when no file is given
//
// Lines that do not start with '{' are ignored, so a whole run log can be
// fed to it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/macaron-contrib/sockets/bench/internal/load"
)

// better says which way each known metric improves: +1 higher, -1 lower.
var better = map[string]int{
	"deliveries_per_s": +1, "rtt_per_s": +1, "conns_per_s": +1,
	"p50_ms": -1, "p99_ms": -1, "lost": -1, "dup": -1, "ooo": -1, "invalid": -1,
	"cpu_us_per_delivery": -1, "softirq_us_per_delivery": -1, "cpu_us_per_rt": -1, "cpu_us_per_connect": -1,
	"dropped_subs": -1, "non_text": -1, "failed": -1, "mismatched": -1, "bytes_per_conn": -1,
	"connect_failed": -1, "closed_while_idle": -1,
	// cmd/logbench
	"lines_per_s": +1, "max_ms": -1, "skipped": -1, "behind_frames": -1, "gaps": -1, "viewers_gone": -1,
	"server_rss_peak_mb": -1, "rss_median_mb": -1, "rss_peak_mb": -1, "rss_after_mb": -1,
	"probe_lines_per_s": +1, "probe_mb_per_s": +1, "probe_p50_ms": -1, "probe_p99_ms": -1, "probe_disconnects": -1,
}

type key struct{ scenario, metric, server string }

// table collects results, remembering the order things first appeared in.
type table struct {
	scenarios []string
	metrics   map[string][]string // per scenario
	servers   []string
	values    map[key][]float64 // runs that were OK only
	all       map[key][]float64 // every run
	runs      map[[2]string]int // scenario, server → runs
	oks       map[[2]string]int
	notes     []string
}

func newTable() *table {
	return &table{metrics: map[string][]string{}, values: map[key][]float64{}, all: map[key][]float64{},
		runs: map[[2]string]int{}, oks: map[[2]string]int{}}
}

func addOnce(list []string, s string) []string {
	if !slices.Contains(list, s) {
		list = append(list, s)
	}
	return list
}

func (t *table) add(r *load.Result) {
	t.scenarios = addOnce(t.scenarios, r.Scenario)
	t.servers = addOnce(t.servers, r.Server)
	ss := [2]string{r.Scenario, r.Server}
	t.runs[ss]++
	if r.OK {
		t.oks[ss]++
	}
	switch {
	case !r.OK:
		t.notes = append(t.notes, fmt.Sprintf("%s %s round %d: NOT OK: %s", r.Scenario, r.Server, r.Round, r.Note))
	case r.Note != "":
		t.notes = append(t.notes, fmt.Sprintf("%s %s round %d: %s", r.Scenario, r.Server, r.Round, r.Note))
	}
	for _, m := range r.Metrics {
		t.metrics[r.Scenario] = addOnce(t.metrics[r.Scenario], m.Name)
		k := key{r.Scenario, m.Name, r.Server}
		t.all[k] = append(t.all[k], m.Value)
		if r.OK {
			t.values[k] = append(t.values[k], m.Value)
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// allZero says whether metric m of scenario sc is 0 in every run, NOT OK
// runs included.
func (t *table) allZero(sc, m string) bool {
	for _, srv := range t.servers {
		for _, v := range t.all[key{sc, m, srv}] {
			if v != 0 {
				return false
			}
		}
	}
	return true
}

// print writes the table. Metrics that are 0 in every run of every server
// (loss and error counts, normally) are listed in one line per scenario
// instead of one row per server.
func (t *table) print(w io.Writer, baseline string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tmetric\t\tserver\truns ok\tmedian\tmin–max\tvs %s\n", baseline)
	var zeros []string
	for _, sc := range t.scenarios {
		var zero []string
		for _, m := range t.metrics[sc] {
			if t.allZero(sc, m) {
				zero = append(zero, m)
				continue
			}
			dir := ""
			switch better[m] {
			case +1:
				dir = "↑"
			case -1:
				dir = "↓"
			}
			base := t.values[key{sc, m, baseline}]
			for _, srv := range t.servers {
				ss := [2]string{sc, srv}
				if len(t.all[key{sc, m, srv}]) == 0 {
					continue // never reported by this server
				}
				v := t.values[key{sc, m, srv}]
				if len(v) == 0 { // reported, but by NOT OK runs only
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t–\t–\tn/a\n", sc, m, dir, srv, t.oks[ss], t.runs[ss])
					continue
				}
				med := median(v)
				ratio := "n/a"
				if len(base) > 0 {
					switch b := median(base); {
					case b != 0:
						ratio = fmt.Sprintf("%.2f", med/b)
					case med == 0:
						ratio = "="
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s–%s\t%s\n", sc, m, dir, srv,
					t.oks[ss], t.runs[ss], load.FormatValue(med),
					load.FormatValue(slices.Min(v)), load.FormatValue(slices.Max(v)), ratio)
			}
		}
		if len(zero) > 0 {
			zeros = append(zeros, fmt.Sprintf("%s: %s", sc, strings.Join(zero, ", ")))
		}
	}
	tw.Flush()
	if len(zeros) > 0 {
		fmt.Fprintln(w, "\n0 in every run of every server:")
		for _, z := range zeros {
			fmt.Fprintln(w, "  "+z)
		}
	}
	if len(t.notes) > 0 {
		fmt.Fprintln(w, "\nnotes (\"runs ok\" counts runs with no loss, error or timeout; median and min–max are over those runs only):")
		for _, n := range t.notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

func read(t *table, r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "{") {
			continue
		}
		var res load.Result
		if err := json.Unmarshal([]byte(text), &res); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		t.add(&res)
	}
	return sc.Err()
}

func main() {
	baseline := flag.String("baseline", "gorillahub", "server the ratios are relative to")
	flag.Parse()
	log.SetPrefix("report: ")
	log.SetFlags(0)
	t := newTable()
	if flag.NArg() == 0 {
		if err := read(t, os.Stdin, "stdin"); err != nil {
			log.Fatal(err)
		}
	}
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			log.Fatal(err)
		}
		err = read(t, f, name)
		f.Close()
		if err != nil {
			log.Fatal(err)
		}
	}
	if len(t.scenarios) == 0 {
		log.Fatal("no results")
	}
	t.print(os.Stdout, *baseline)
}
