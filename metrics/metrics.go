// Package metrics exports what package sockets and its NATS broker count
// as Prometheus metrics.
//
// A Collector reads the counters the library keeps anyway (Group.Stats,
// Hub.Stats, natsbroker's Broker.Stats) when it is scraped, and turns them
// into constant metrics: it adds nothing to the handling of a connection
// or a message.
//
//	c, err := metrics.New(metrics.Sources{
//		Groups: map[string]*sockets.Group{"chat": group},
//		Hubs:   map[string]*sockets.Hub{"chat": hub},
//	}, nil)
//	if err != nil { ... }
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Each source is named by its key in Sources, which becomes the value of
// the label "group", "hub" or "broker" of its metrics. With the default
// namespace, the metrics are:
//
//	sockets_connections_open{group}                      gauge: connections open, upgrades under way included
//	sockets_connections_accepted_total{group}            upgrades done
//	sockets_upgrades_refused_total{group,reason}         requests refused before an upgrade: method, host, origin, capacity, shutdown, handshake
//	sockets_messages_received_total{group}               messages read from clients
//	sockets_received_bytes_total{group}                  their payload bytes
//	sockets_messages_sent_total{group}                   data messages written to clients
//	sockets_sent_bytes_total{group}                      their payload bytes
//	sockets_decode_errors_total{group}                   messages from clients that could not be decoded
//	sockets_encode_errors_total{group}                   values from handlers that could not be encoded
//	sockets_messages_rate_limited_total{group}           messages over Options.MessageRate
//	sockets_handler_panics_total{group}                  handlers that panicked
//	sockets_close_frames_sent_total{group,code}          close frames the server sent (its own, and its answers)
//	sockets_close_frames_received_total{group,code}      close frames clients sent first
//
//	sockets_hub_members{hub}                             gauge: connections in at least one room
//	sockets_hub_rooms{hub}                               gauge: rooms with at least one member
//	sockets_hub_messages_total{hub}                      messages published here or received from the broker
//	sockets_hub_deliveries_total{hub}                    frames queued to members
//	sockets_hub_messages_dropped_total{hub}              frames skipped under DropMessage
//	sockets_hub_slow_disconnects_total{hub}              members closed under DisconnectSlowClient
//	sockets_hub_messages_refused_total{hub}              messages refused (no room, not text or binary, text not UTF-8)
//	sockets_hub_broker_errors_total{hub}                 broker calls that failed
//	sockets_hub_store_errors_total{hub}                  history store calls that failed
//	sockets_hub_history_gaps_total{hub}                  gaps the history store reported: records dropped before the hub had them
//	sockets_hub_gap_disconnects_total{hub}               members closed (1013) after such a gap, to resume from their position
//
//	sockets_broker_messages_published_total{broker}      messages handed to the NATS client
//	sockets_broker_publish_errors_total{broker}          messages the other instances will never get
//	sockets_broker_publish_duration_seconds{broker}      histogram: time of each call to the NATS client's publish
//	sockets_broker_messages_received_total{broker}       messages from other instances handed to the hub
//	sockets_broker_own_messages_skipped_total{broker}    own messages echoed back and not delivered again
//	sockets_broker_messages_malformed_total{broker}      received messages dropped as malformed
//	sockets_broker_messages_dropped_total{broker}        messages NATS dropped while the hub fell behind
//	sockets_broker_disconnects_total{broker}             losses of the connection to NATS
//	sockets_broker_reconnects_total{broker}              reconnects
//	sockets_broker_subscriptions{broker}                 gauge: subjects subscribed now
//
// Every counter starts from the source's own count, which begins at zero
// when the process starts. Labels common to every metric (an instance, a
// service) are added with prometheus.WrapRegistererWith.
//
// The package imports natsbroker, and so the NATS client, whether or not
// Sources has brokers; package sockets itself does not depend on
// Prometheus.
package metrics

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// DefaultNamespace starts every metric name when Options.Namespace is
// empty.
const DefaultNamespace = "sockets"

// Sources are what a Collector reads, each under a name: the value of the
// label "group", "hub" or "broker" of its metrics. Names must not be
// empty; the same name may be used in two maps (a chat's group and hub,
// say).
type Sources struct {
	// Groups are the connection groups (Options.Group, DefaultGroup).
	Groups map[string]*sockets.Group
	// Hubs are the hubs.
	Hubs map[string]*sockets.Hub
	// Brokers are the NATS brokers linking hubs across instances.
	Brokers map[string]*natsbroker.Broker
}

// Options configures a Collector. A nil *Options, or a zero field, means
// the default.
type Options struct {
	// Namespace is the first part of every metric name: letters, digits
	// and underscores, not starting with a digit. Default: "sockets".
	Namespace string
}

// Collector is a prometheus.Collector of the sources' counters. It reads
// them at each Collect and keeps nothing between scrapes; it is safe for
// concurrent use.
type Collector struct {
	groups  []named[*sockets.Group]
	hubs    []named[*sockets.Hub]
	brokers []named[*natsbroker.Broker]

	groupDescs  []groupMetric
	refused     *prometheus.Desc
	closesSent  *prometheus.Desc
	closesRecvd *prometheus.Desc
	hubDescs    []hubMetric
	brokerDescs []brokerMetric
	latency     *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

type named[T any] struct {
	name string
	src  T
}

type groupMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*sockets.GroupStats) float64
}

type hubMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*sockets.Stats) float64
}

type brokerMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*natsbroker.Stats) float64
}

var validNamespace = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// New returns a Collector of src's counters. It fails on an invalid
// namespace, an empty name, or a nil source.
func New(src Sources, opts *Options) (*Collector, error) {
	ns := DefaultNamespace
	if opts != nil && opts.Namespace != "" {
		ns = opts.Namespace
	}
	if !validNamespace.MatchString(ns) {
		return nil, fmt.Errorf("metrics: invalid namespace %q: want letters, digits and underscores, not starting with a digit", ns)
	}
	c := &Collector{}
	var err error
	if c.groups, err = sorted("group", src.Groups); err != nil {
		return nil, err
	}
	if c.hubs, err = sorted("hub", src.Hubs); err != nil {
		return nil, err
	}
	if c.brokers, err = sorted("broker", src.Brokers); err != nil {
		return nil, err
	}
	c.describe(ns)
	return c, nil
}

// sorted lists m by name, refusing empty names and nil sources.
func sorted[T comparable](kind string, m map[string]T) ([]named[T], error) {
	var zero T
	out := make([]named[T], 0, len(m))
	for name, src := range m {
		switch {
		case name == "":
			return nil, fmt.Errorf("metrics: a %s with an empty name", kind)
		case src == zero:
			return nil, fmt.Errorf("metrics: %s %q is nil", kind, name)
		}
		out = append(out, named[T]{name, src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// describe makes the descriptions of every metric under namespace ns.
func (c *Collector) describe(ns string) {
	desc := func(subsystem, name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, subsystem, name), help, labels, nil)
	}
	counter, gauge := prometheus.CounterValue, prometheus.GaugeValue

	g := func(name, help string, typ prometheus.ValueType, value func(*sockets.GroupStats) float64) {
		c.groupDescs = append(c.groupDescs, groupMetric{desc("", name, help, "group"), typ, value})
	}
	g("connections_open", "Connections open, upgrades under way included.", gauge,
		func(s *sockets.GroupStats) float64 { return float64(s.Open) })
	g("connections_accepted_total", "Upgrades done.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.Accepted) })
	g("messages_received_total", "Messages read from clients, those over the rate included.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.MessagesIn) })
	g("received_bytes_total", "Payload bytes of the messages read from clients.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.BytesIn) })
	g("messages_sent_total", "Data messages written to clients.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.MessagesOut) })
	g("sent_bytes_total", "Payload bytes of the data messages written to clients.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.BytesOut) })
	g("decode_errors_total", "Messages from clients that could not be decoded.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.DecodeErrors) })
	g("encode_errors_total", "Values from handlers that could not be encoded.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.EncodeErrors) })
	g("messages_rate_limited_total", "Messages from clients over the message rate.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.RateLimited) })
	g("handler_panics_total", "Handlers that panicked.", counter,
		func(s *sockets.GroupStats) float64 { return float64(s.Panics) })
	c.refused = desc("", "upgrades_refused_total", "Requests refused before an upgrade, by reason.", "group", "reason")
	c.closesSent = desc("", "close_frames_sent_total", "Close frames the server sent, its own and its answers to clients', by code.", "group", "code")
	c.closesRecvd = desc("", "close_frames_received_total", "Close frames clients sent first, by code.", "group", "code")

	h := func(name, help string, typ prometheus.ValueType, value func(*sockets.Stats) float64) {
		c.hubDescs = append(c.hubDescs, hubMetric{desc("hub", name, help, "hub"), typ, value})
	}
	h("members", "Connections in at least one room.", gauge,
		func(s *sockets.Stats) float64 { return float64(s.Connections) })
	h("rooms", "Rooms with at least one member.", gauge,
		func(s *sockets.Stats) float64 { return float64(s.Rooms) })
	h("messages_total", "Messages published here or received from the broker.", counter,
		func(s *sockets.Stats) float64 { return float64(s.MessagesIn) })
	h("deliveries_total", "Frames queued to members.", counter,
		func(s *sockets.Stats) float64 { return float64(s.MessagesOut) })
	h("messages_dropped_total", "Frames skipped for a member whose queue was full (DropMessage).", counter,
		func(s *sockets.Stats) float64 { return float64(s.Dropped) })
	h("slow_disconnects_total", "Members closed because their queue was full (DisconnectSlowClient).", counter,
		func(s *sockets.Stats) float64 { return float64(s.SlowDisconnects) })
	h("messages_refused_total", "Messages refused: no room name, not text or binary, text not UTF-8.", counter,
		func(s *sockets.Stats) float64 { return float64(s.Refused) })
	h("broker_errors_total", "Broker calls that failed.", counter,
		func(s *sockets.Stats) float64 { return float64(s.BrokerErrors) })
	h("store_errors_total", "History store calls that failed.", counter,
		func(s *sockets.Stats) float64 { return float64(s.StoreErrors) })
	h("history_gaps_total", "Gaps the history store reported: records of a room it dropped before the hub had them.", counter,
		func(s *sockets.Stats) float64 { return float64(s.HistoryGaps) })
	h("gap_disconnects_total", "Members closed with 1013 after a history gap, to resume from their last position.", counter,
		func(s *sockets.Stats) float64 { return float64(s.GapDisconnects) })

	b := func(name, help string, typ prometheus.ValueType, value func(*natsbroker.Stats) float64) {
		c.brokerDescs = append(c.brokerDescs, brokerMetric{desc("broker", name, help, "broker"), typ, value})
	}
	b("messages_published_total", "Messages handed to the NATS client: sent, or kept in its reconnect buffer.", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.Published) })
	b("publish_errors_total", "Messages that could not be published: the other instances will never get them.", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.PublishFailed) })
	b("messages_received_total", "Messages from other instances handed to the hub.", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.Received) })
	b("own_messages_skipped_total", "This instance's own messages echoed back by NATS and not delivered again.", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.SkippedOwn) })
	b("messages_malformed_total", "Received messages dropped as malformed.", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.Malformed) })
	b("messages_dropped_total", "Messages NATS dropped while the hub fell behind (slow consumer).", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.Dropped) })
	b("disconnects_total", "Losses of the connection to NATS.", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.Disconnects) })
	b("reconnects_total", "Reconnects to NATS.", counter,
		func(s *natsbroker.Stats) float64 { return float64(s.Reconnects) })
	b("subscriptions", "Subjects subscribed now, the one for every room included.", gauge,
		func(s *natsbroker.Stats) float64 { return float64(s.Subscriptions) })
	c.latency = desc("broker", "publish_duration_seconds", "Time of each call to the NATS client's publish, failed ones included.", "broker")
}

// Describe sends the descriptions of every metric the Collector may
// collect, whichever sources it has.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.groupDescs {
		ch <- m.desc
	}
	ch <- c.refused
	ch <- c.closesSent
	ch <- c.closesRecvd
	for _, m := range c.hubDescs {
		ch <- m.desc
	}
	for _, m := range c.brokerDescs {
		ch <- m.desc
	}
	ch <- c.latency
}

// Collect reads every source's counters now and sends them as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.groups {
		s := g.src.Stats()
		for _, m := range c.groupDescs {
			ch <- constMetric(m.desc, m.typ, m.value(&s), g.name)
		}
		for _, reason := range sortedKeys(s.Refused) {
			ch <- constMetric(c.refused, prometheus.CounterValue, float64(s.Refused[reason]), g.name, reason)
		}
		for _, code := range sortedKeys(s.ClosesSent) {
			ch <- constMetric(c.closesSent, prometheus.CounterValue, float64(s.ClosesSent[code]), g.name, strconv.Itoa(code))
		}
		for _, code := range sortedKeys(s.ClosesReceived) {
			ch <- constMetric(c.closesRecvd, prometheus.CounterValue, float64(s.ClosesReceived[code]), g.name, strconv.Itoa(code))
		}
	}
	for _, h := range c.hubs {
		s := h.src.Stats()
		for _, m := range c.hubDescs {
			ch <- constMetric(m.desc, m.typ, m.value(&s), h.name)
		}
	}
	for _, b := range c.brokers {
		s := b.src.Stats()
		for _, m := range c.brokerDescs {
			ch <- constMetric(m.desc, m.typ, m.value(&s), b.name)
		}
		ch <- latencyHistogram(c.latency, s.PublishLatency, b.name)
	}
}

// constMetric is prometheus.NewConstMetric, its error (a bug here) made
// an invalid metric that the registry reports, not a panic.
func constMetric(desc *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, typ, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, fmt.Errorf("metrics: %w", err))
	}
	return m
}

// latencyHistogram turns l into a Prometheus histogram in seconds, whose
// buckets are cumulative.
func latencyHistogram(desc *prometheus.Desc, l natsbroker.Latency, labels ...string) prometheus.Metric {
	bounds := natsbroker.LatencyBounds()
	if len(bounds)+1 != len(l.Buckets) {
		return prometheus.NewInvalidMetric(desc, errors.New("metrics: the broker's latency buckets do not match its bounds"))
	}
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, bound := range bounds {
		cum += l.Buckets[i]
		buckets[bound.Seconds()] = cum
	}
	m, err := prometheus.NewConstHistogram(desc, l.Count, l.Sum.Seconds(), buckets, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, fmt.Errorf("metrics: %w", err))
	}
	return m
}

// sortedKeys returns m's keys in increasing order.
func sortedKeys[K string | int, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
