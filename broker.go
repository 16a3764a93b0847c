package shoal

// Broker carries published messages between the nodes of a cluster, so
// that a Publish on any node reaches the subscribers of every node. A
// server without one (the default) publishes within its own process.
//
// The server calls Publish after delivering a message to its own
// subscribers, and Subscribe and Unsubscribe as topics gain their first
// subscriber on this node and lose their last. A Broker hands messages
// from other nodes (never this node's own) to the deliver function given
// to Start, in the order each remote publisher published them. Its
// methods are called from any goroutine, concurrently, and must not block
// for long: Subscribe and Unsubscribe run with a topic's lock held.
type Broker interface {
	// Start begins delivery of remote messages. New calls it once, before
	// any other method.
	Start(deliver func(topic string, t MessageType, data []byte)) error
	Publish(topic string, t MessageType, data []byte) error
	Subscribe(topic string) error
	Unsubscribe(topic string) error
	// Close stops delivery and releases the broker's resources; the
	// server's Shutdown calls it.
	Close() error
}
