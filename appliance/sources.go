package appliance

import (
	"context"
	"fmt"
	"strings"

	"github.com/discodo-go/discodo/appliance/protocol"
)

// Resolver turns queries into sources (node-protocol.md section 8,
// "Queries and sources"). Errors it returns for client mistakes wrap
// ErrBadRequest or ErrNotSupported.
type Resolver interface {
	Resolve(ctx context.Context, query string) ([]protocol.AudioData, error)
	Search(ctx context.Context, query string) ([]protocol.AudioData, error)
}

func (n *Node) resolver(query string) (Resolver, error) {
	if strings.TrimSpace(query) == "" {
		return nil, badRequest("Missing parameter query.")
	}
	if n.cfg.Sources == nil {
		return nil, fmt.Errorf("%w: this node has no source resolver", ErrNotSupported)
	}
	return n.cfg.Sources, nil
}

// Resolve resolves a query into one or more sources (GET /getSource).
func (n *Node) Resolve(ctx context.Context, query string) ([]protocol.AudioData, error) {
	r, err := n.resolver(query)
	if err != nil {
		return nil, err
	}
	return r.Resolve(ctx, strings.TrimSpace(query))
}

// Search returns candidates for a query (GET /searchSources).
func (n *Node) Search(ctx context.Context, query string) ([]protocol.AudioData, error) {
	r, err := n.resolver(query)
	if err != nil {
		return nil, err
	}
	return r.Search(ctx, strings.TrimSpace(query))
}

// LoadSource resolves a query and puts the result into the queue, then
// emits loadSource after putSource (POST /loadSource).
func (vc *VoiceClient) LoadSource(ctx context.Context, query string) ([]protocol.AudioData, error) {
	sources, err := vc.m.node.Resolve(ctx, query)
	if err != nil {
		return nil, err
	}
	stored, err := vc.PutSource(sources)
	if err != nil {
		return nil, err
	}
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var src any = stored
	if len(stored) == 1 {
		src = stored[0]
	}
	vc.emit(protocol.EventLoadSource, map[string]any{"source": src})
	return stored, nil
}
