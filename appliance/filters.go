package appliance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/store"
	"github.com/discodo-go/discodo/wasm"
)

// filterHost returns the WASM host or ErrNotSupported.
func (n *Node) filterHost() (*wasm.Host, error) {
	if n.cfg.Filters == nil {
		return nil, fmt.Errorf("%w: this node runs no filters", ErrNotSupported)
	}
	return n.cfg.Filters, nil
}

// RegisterFilter compiles and checks an uploaded module, then stores it
// (PUT /filters/{name}): it survives restarts. A module the host refuses is
// a 400 naming the reason. The host is changed only after the store: when
// the commit fails, a module this one would replace stays in place.
func (n *Node) RegisterFilter(ctx context.Context, name string, module []byte) (wasm.Info, error) {
	h, err := n.filterHost()
	if err != nil {
		return wasm.Info{}, err
	}
	prepared, err := h.Prepare(ctx, name, module)
	if err != nil {
		return wasm.Info{}, filterError(err)
	}
	sum := sha256.Sum256(module)
	rec := store.Filter{Name: name, SHA256: hex.EncodeToString(sum[:]), Module: module, Created: time.Now()}
	if err := n.update(func(tx *store.Tx) error { return tx.PutFilter(rec) }); err != nil {
		prepared.Discard(ctx)
		return wasm.Info{}, fmt.Errorf("storing filter %q: %w", name, err)
	}
	info, err := prepared.Bind(ctx)
	if err != nil {
		return wasm.Info{}, filterError(err)
	}
	n.log.Info("registered a filter", "name", name, "sha256", info.SHA256, "bytes", info.Size)
	return info, nil
}

// RemoveFilter deletes an uploaded filter (DELETE /filters/{name}); players
// using it drop it from their chains with FILTER_ERROR. The store goes
// first: a failed commit leaves the filter in place.
func (n *Node) RemoveFilter(ctx context.Context, name string) error {
	h, err := n.filterHost()
	if err != nil {
		return err
	}
	if wasm.IsBuiltin(name) {
		return filterError(fmt.Errorf("%w: %q", wasm.ErrBuiltinName, name))
	}
	if !slices.ContainsFunc(h.List(), func(i wasm.Info) bool { return i.Name == name }) {
		return filterError(fmt.Errorf("%w: %q", wasm.ErrNotFound, name))
	}
	if err := n.update(func(tx *store.Tx) error { return tx.DeleteFilter(name) }); err != nil {
		return err
	}
	if err := h.Remove(ctx, name); err != nil {
		return filterError(err)
	}
	return nil
}

// Filters lists the built-in and uploaded filters (GET /filters).
func (n *Node) Filters() ([]wasm.Info, error) {
	h, err := n.filterHost()
	if err != nil {
		return nil, err
	}
	return h.List(), nil
}

// restoreFilters registers the stored uploads again at boot (from the
// compilation cache: no recompiling).
func (n *Node) restoreFilters(ctx context.Context, filters []store.Filter) {
	if n.cfg.Filters == nil {
		return
	}
	for _, f := range filters {
		if _, err := n.cfg.Filters.Register(ctx, f.Name, f.Module); err != nil {
			n.log.Error("a stored filter no longer registers: players using it will bypass it", "name", f.Name, "err", err)
		}
	}
	n.cfg.Filters.PruneCache()
}

// filterError classifies the host's errors for REST.
func filterError(err error) error {
	switch {
	case errors.Is(err, wasm.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrFilterNotFound, err)
	case errors.Is(err, wasm.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return fmt.Errorf("%w: %w", ErrBadRequest, err)
}

// checkFilter validates a filter option by building its chain (which runs
// every set_param): an error names the filter and the parameter. It
// returns the chain in canonical JSON and the chain itself, which the
// caller hands to the player or closes.
func (n *Node) checkFilter(ctx context.Context, raw json.RawMessage, onError func(string, error)) (json.RawMessage, *wasm.Chain, error) {
	spec, err := wasm.ParseChain(raw)
	if err != nil {
		return nil, nil, filterError(err)
	}
	if len(spec.Filters) == 0 {
		return json.RawMessage("{}"), nil, nil
	}
	h, err := n.filterHost()
	if err != nil {
		return nil, nil, err
	}
	chain, err := h.NewChain(ctx, spec, onError)
	if err != nil {
		return nil, nil, filterError(err)
	}
	canon, err := json.Marshal(spec)
	if err != nil {
		chain.Close(ctx)
		return nil, nil, err
	}
	return canon, chain, nil
}

// filterErrorLater reports a bypassed filter (FILTER_ERROR). A chain calls
// it from the voice send loop with the player's lock held, where taking
// the manager's lock could deadlock (the node takes the manager's lock,
// then the player's), so the report is queued for Node.Run's loop. A full
// queue drops the event (logged): the filter is bypassed either way.
func (vc *VoiceClient) filterErrorLater(filter string, err error) {
	n := vc.m.node
	n.figures.mu.Lock()
	n.figures.filterErrors++
	n.figures.mu.Unlock()
	select {
	case n.later <- func() {
		vc.m.mu.Lock()
		defer vc.m.mu.Unlock()
		if vc.gone {
			return
		}
		vc.emit(protocol.EventFilterError, map[string]any{"filter": filter, "reason": err.Error()})
	}:
	default:
		n.log.Warn("dropped a FILTER_ERROR event: too many at once", "guild", vc.guildID, "filter", filter)
	}
	n.log.Warn("a filter was bypassed", "guild", vc.guildID, "filter", filter, "err", err)
}
