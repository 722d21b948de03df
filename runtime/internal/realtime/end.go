package realtime

import "time"

// EndSubscriptions ends every subscription of this replica's connections
// to a topic that match says belongs to a module that no longer serves it
// (the owner disabled the module): each subscriber gets a refused frame
// with ReasonNoModule, as a new subscription would, and receives nothing
// more on the topic; the connections stay open. It returns how many
// subscriptions it ended.
func (h *Hub) EndSubscriptions(match func(topic string) bool) int {
	h.mu.Lock()
	var ended []*sub
	for topic, subs := range h.topics {
		if !match(topic) {
			continue
		}
		for s := range subs {
			ended = append(ended, s)
		}
		delete(h.topics, topic)
	}
	h.mu.Unlock()
	for _, s := range ended {
		c := s.c
		c.mu.Lock()
		if c.subs[s.topic] == s {
			delete(c.subs, s.topic)
			if len(c.subs) == 0 {
				c.lastActive = time.Now()
			}
		}
		c.mu.Unlock()
		c.send(refusedFrame(s.topic, ReasonNoModule))
	}
	return len(ended)
}
