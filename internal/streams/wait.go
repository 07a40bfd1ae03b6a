package streams

// AppendSignal returns a channel that is closed by the next append to a
// shard that becomes durable after the call. A reader takes it before it
// reads the shard and, when the read returned nothing new, waits on it
// (and a deadline of its own) instead of polling: an append landing
// between the read and the wait is not missed.
func (s *Streams) AppendSignal(ref StreamRef, shardID string) (<-chan struct{}, error) {
	st, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	sh, err := shardOf(st, shardID)
	if err != nil {
		return nil, err
	}
	return s.appends.wait(st.Key(sh.Index)), nil
}
