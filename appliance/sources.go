package appliance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/protocol"
)

// resolver checks a query and returns the configured resolver.
func (n *Node) resolver(query string) (*audio.Resolver, error) {
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
	mds, err := r.Resolve(ctx, strings.TrimSpace(query))
	if err != nil {
		return nil, sourceError(err)
	}
	return audioData(mds), nil
}

// Search returns candidates for a query (GET /searchSources).
func (n *Node) Search(ctx context.Context, query string) ([]protocol.AudioData, error) {
	r, err := n.resolver(query)
	if err != nil {
		return nil, err
	}
	mds, err := r.Search(ctx, strings.TrimSpace(query))
	if err != nil {
		return nil, sourceError(err)
	}
	return audioData(mds), nil
}

// sourceError classifies the resolver's errors for REST: the query's fault
// (400), nothing there (404), or the upstream's fault (502).
func sourceError(err error) error {
	switch {
	case errors.Is(err, audio.ErrUnsupportedQuery), errors.Is(err, audio.ErrOutsideMediaDir), errors.Is(err, audio.ErrNotAudio):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	case errors.Is(err, audio.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrSourceNotFound, err)
	case errors.Is(err, audio.ErrSourceUnavailable), errors.Is(err, audio.ErrExtractor):
		return fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	return err
}

// audioData turns resolved metadata into queue entries.
func audioData(mds []audio.Metadata) []protocol.AudioData {
	out := make([]protocol.AudioData, 0, len(mds))
	for _, md := range mds {
		a := protocol.AudioData{
			Tag:         protocol.NewUUID(),
			Title:       text(md.Title),
			WebpageURL:  text(md.WebpageURL),
			Thumbnail:   text(md.Thumbnail),
			URL:         text(md.URL),
			IsLive:      md.IsLive,
			IsFile:      md.IsFile,
			Uploader:    text(md.Uploader),
			Description: text(protocol.TrimUTF8(md.Description, protocol.MaxDescriptionBytes)),
		}
		a.ID.Text = text(md.ID)
		if md.HasDuration {
			d := md.Duration.Seconds()
			a.Duration = &d
		}
		out = append(out, a)
	}
	return out
}

func text(s string) protocol.Text {
	if s == "" {
		return protocol.Text{}
	}
	return protocol.T(s)
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
