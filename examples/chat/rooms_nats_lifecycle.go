package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// Defaults of the NATS store.
const (
	defaultPeerTimeout   = 250 * time.Millisecond
	defaultHelloInterval = 2 * time.Second
	peerExpiry           = 3 // hello intervals without news before a peer is forgotten
)

// newNATSStore connects to NATS and returns the store with its hub.
func newNATSStore(cfg config) (*natsStore, *sockets.Hub, error) {
	s := &natsStore{
		log:         cfg.Logger,
		historySize: cfg.HistorySize,
		logSize:     max(defaultLogSize, cfg.HistorySize),
		maxIdle:     defaultMaxIdle,
		timeout:     cfg.PeerTimeout,
		helloEvery:  cfg.HelloInterval,
		rooms:       make(map[string]*natsRoom),
		peers:       make(map[string]time.Time),
		gone:        make(map[string]time.Time),
		queries:     make(map[string]*query),
		reconnected: make(chan struct{}, 1),
		resync:      make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	if s.timeout <= 0 {
		s.timeout = defaultPeerTimeout
	}
	switch s.discovery = cfg.DiscoveryWait; {
	case s.discovery == 0:
		s.discovery = s.timeout
	case s.discovery < 0:
		s.discovery = 0
	}
	if s.helloEvery <= 0 {
		s.helloEvery = defaultHelloInterval
	}
	prefix := cfg.NATSPrefix
	if prefix == "" {
		prefix = natsbroker.DefaultPrefix
	}
	s.helloSubject, s.stateSubject, s.roomsSubject = prefix+".chat.hello", prefix+".chat.state", prefix+".chat.rooms"

	natsOpts := append(slices.Clone(cfg.NATSOptions),
		// Called after the broker's own handlers; they only signal.
		nats.DisconnectErrHandler(func(*nats.Conn, error) { s.down.Store(true) }),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case s.reconnected <- struct{}{}:
			default:
			}
		}),
	)
	b, err := natsbroker.Connect(cfg.NATSURL, natsbroker.Options{
		Prefix:      prefix,
		InstanceID:  cfg.InstanceID,
		Logger:      cfg.Logger,
		NATSOptions: natsOpts,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("chat: no NATS server to share the rooms through (is nats-server running at %s?): %w", cfg.NATSURL, err)
	}
	s.id, s.nc = b.InstanceID(), b.Conn()
	s.relay = &relay{b: b, onEvent: s.onEvent, holds: make(map[string]int), hubWants: make(map[string]bool),
		epochs: make(map[string]uint64), staged: make(map[string]stamp)}
	hub, err := sockets.NewHub(&sockets.HubOptions{Broker: s.relay})
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	s.hub = hub
	if err := s.start(); err != nil {
		hub.Close()
		return nil, nil, err
	}
	return s, hub, nil
}

// start subscribes to the store's subjects and says hello.
func (s *natsStore) start() error {
	for subject, handle := range map[string]nats.MsgHandler{
		s.helloSubject: s.onHello,
		s.stateSubject: s.onStateRequest,
		s.roomsSubject: s.onRoomsRequest,
	} {
		sub, err := s.nc.Subscribe(subject, handle)
		if err != nil {
			s.unsubscribe()
			return fmt.Errorf("chat: subscribing to %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	s.warmUntil = time.Now().Add(s.discovery)
	s.sayHello("new")
	s.wg.Add(1)
	go s.run()
	return nil
}

func (s *natsStore) unsubscribe() {
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	s.subs = nil
}

// Close says goodbye to the other instances and stops the store. The hub,
// closed after, closes the broker and the NATS connection.
func (s *natsStore) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.unsubscribe()
		if s.nc.IsConnected() {
			s.sayHello("bye")
			s.nc.FlushTimeout(time.Second)
		}
	})
	return nil
}

// run says hello periodically, forgets silent peers, and handles
// reconnects and resync requests, until Close.
func (s *natsStore) run() {
	defer s.wg.Done()
	tick := time.NewTicker(s.helloEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			if s.nc.IsConnected() && !s.down.Load() {
				s.sayHello("alive")
				s.expirePeers()
			}
		case <-s.reconnected:
			// What other instances did meanwhile is unknown: history is
			// stale, peers get a new chance, and presence is asked again.
			s.relay.renew()
			s.touchPeers()
			s.down.Store(false)
			s.sayHello("back")
			s.resyncAll()
		case <-s.resync:
			s.resyncAll()
		}
	}
}
