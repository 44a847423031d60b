package control

import (
	"context"
	"encoding/json"
	"maps"
	"path"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/rdb"
	"github.com/synqhq/synq/internal/spec"
	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// ListSyncs lists the published syncs that pass the request's filters, a
// page at a time, with a summary by health.
func (s *Service) ListSyncs(ctx context.Context, r *synqv1.ListSyncsRequest) (*synqv1.ListSyncsResponse, error) {
	f, err := filterOf(r.GetHealth(), r.GetWorker(), r.GetKey())
	if err != nil {
		return nil, err
	}
	f.Undeclared = r.GetUndeclared()
	if r.GetPageSize() < 0 {
		return nil, errf(codes.InvalidArgument, "page_size %d: give a positive number, or 0 for every sync", r.GetPageSize())
	}
	p, err := s.ops.List(ctx, f, r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &synqv1.ListSyncsResponse{NextPageToken: p.Next, Matched: int32(p.Matched), Summary: summaryPB(p.Summary), Undeclared: int32(p.Summary.Undeclared)}
	for _, v := range p.Views {
		out.Syncs = append(out.Syncs, s.syncPB(ctx, v))
	}
	return out, nil
}

// filterOf reads a request's filters.
func filterOf(healths []synqv1.Health, worker, key string) (ops.Filter, error) {
	f := ops.Filter{Worker: worker, Key: key}
	for _, h := range healths {
		oh, ok := healthOf[h]
		if !ok {
			return f, errf(codes.InvalidArgument, "health %v: give one of INITIALIZING, HEALTHY, WARNING, ERROR, DISABLED", h)
		}
		f.Health = append(f.Health, oh)
	}
	if _, err := path.Match(key, ""); err != nil {
		return f, errf(codes.InvalidArgument, "key glob %q: %v", key, err)
	}
	return f, nil
}

var healthOf = map[synqv1.Health]ops.Health{
	synqv1.Health_HEALTH_INITIALIZING: ops.Initializing, synqv1.Health_HEALTH_HEALTHY: ops.Healthy,
	synqv1.Health_HEALTH_WARNING: ops.Warning, synqv1.Health_HEALTH_ERROR: ops.Error, synqv1.Health_HEALTH_DISABLED: ops.Disabled,
}

// summaryHealths is the order of a summary, worst first.
var summaryHealths = []ops.Health{ops.Error, ops.Warning, ops.Initializing, ops.Disabled, ops.Healthy}

func summaryPB(sum ops.Summary) []*synqv1.HealthCount {
	out := make([]*synqv1.HealthCount, 0, len(summaryHealths))
	for _, h := range summaryHealths {
		out = append(out, &synqv1.HealthCount{Health: healthPB(h), Count: int32(sum.Counts[h])})
	}
	return out
}

// GetSync returns one sync.
func (s *Service) GetSync(ctx context.Context, r *synqv1.GetSyncRequest) (*synqv1.GetSyncResponse, error) {
	v, err := s.ops.View(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.GetSyncResponse{Sync: s.syncPB(ctx, v)}, nil
}

// WatchSyncs streams the syncs' status: every sync that passes the
// filters first, then only the changes. Each check reads the statuses
// (pipelined) and builds the views of the syncs whose status changed or
// that have a run active (its counters move) only.
func (s *Service) WatchSyncs(r *synqv1.WatchSyncsRequest, stream synqv1.ControlService_WatchSyncsServer) error {
	ctx := stream.Context()
	interval := time.Second
	if d := r.GetInterval(); d != nil && d.AsDuration() > 0 {
		interval = max(d.AsDuration(), 100*time.Millisecond)
	}
	for _, k := range r.GetKeys() {
		if _, err := s.ops.Sync(ctx, k); err != nil {
			return toStatus(err)
		}
	}
	f, err := filterOf(r.GetHealth(), r.GetWorker(), r.GetKey())
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, k := range r.GetKeys() {
		want[k] = true
	}
	type seen struct {
		status rdb.SyncStatus
		info   ops.SyncInfo
		pb     *synqv1.Sync
	}
	last := map[string]seen{}
	var lastSummary []*synqv1.HealthCount
	t := time.NewTicker(interval)
	defer t.Stop()
	for first := true; ; first = false {
		ls, sum, err := s.ops.Match(ctx, f)
		if err != nil {
			return toStatus(err)
		}
		msg := &synqv1.WatchSyncsResponse{Full: first, Summary: summaryPB(sum)}
		now := map[string]bool{}
		var changed []ops.Listed
		for _, l := range ls {
			if len(want) > 0 && !want[l.Key] {
				continue
			}
			now[l.Key] = true
			prev, ok := last[l.Key]
			if !ok || prev.status != l.Status || l.Status.ActiveRun != "" || !sameInfo(prev.info, l.SyncInfo) {
				changed = append(changed, l)
			}
		}
		views, err := s.ops.ViewsOf(ctx, changed)
		if err != nil {
			return toStatus(err)
		}
		for i, v := range views {
			pb := s.syncPB(ctx, v)
			prev, ok := last[v.Key]
			last[v.Key] = seen{status: changed[i].Status, info: changed[i].SyncInfo, pb: pb}
			if !ok || !proto.Equal(prev.pb, pb) {
				msg.Syncs = append(msg.Syncs, pb)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(last)) {
			if !now[k] {
				delete(last, k)
				msg.Removed = append(msg.Removed, k)
			}
		}
		summaryMoved := !slices.EqualFunc(lastSummary, msg.Summary, func(a, b *synqv1.HealthCount) bool { return proto.Equal(a, b) })
		if first || len(msg.Syncs) > 0 || len(msg.Removed) > 0 || summaryMoved {
			if err := stream.Send(msg); err != nil {
				return err
			}
			lastSummary = msg.Summary
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sameInfo reports whether a sync's catalog entry is unchanged as far as
// its view shows.
func sameInfo(a, b ops.SyncInfo) bool {
	return a.Worker == b.Worker && a.Build == b.Build && a.Declared == b.Declared && a.Conflict == b.Conflict && a.Since.Equal(b.Since)
}

// TriggerSync starts a run, or previews one page without effects.
func (s *Service) TriggerSync(ctx context.Context, r *synqv1.TriggerSyncRequest) (*synqv1.TriggerSyncResponse, error) {
	if r.GetPreview() {
		var state json.RawMessage
		if r.GetStateJson() != "" {
			state = json.RawMessage(r.GetStateJson())
		}
		p, err := s.ops.Preview(ctx, r.GetKey(), state)
		if err != nil {
			return nil, toStatus(err)
		}
		if p.Error != "" {
			return nil, errf(codes.FailedPrecondition, "preview of %q failed: %s", r.GetKey(), p.Error)
		}
		return &synqv1.TriggerSyncResponse{Preview: previewPB(p)}, nil
	}
	run, err := s.ops.Trigger(ctx, r.GetKey(), "manual", ops.TriggerOptions{AllowTrash: r.GetAllowTrash()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.TriggerSyncResponse{RunId: run}, nil
}

// GetState returns a sync's committed state.
func (s *Service) GetState(ctx context.Context, r *synqv1.GetStateRequest) (*synqv1.GetStateResponse, error) {
	st, err := s.ops.State(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.GetStateResponse{Key: r.GetKey(), StateJson: string(st)}, nil
}

// ResetState clears a sync's state.
func (s *Service) ResetState(ctx context.Context, r *synqv1.ResetStateRequest) (*synqv1.ResetStateResponse, error) {
	if err := s.ops.ResetState(ctx, r.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.ResetStateResponse{}, nil
}

// PauseSync pauses a sync.
func (s *Service) PauseSync(ctx context.Context, r *synqv1.PauseSyncRequest) (*synqv1.PauseSyncResponse, error) {
	if err := s.ops.Pause(ctx, r.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	v, err := s.ops.View(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.PauseSyncResponse{Sync: s.syncPB(ctx, v)}, nil
}

// ResumeSync resumes a sync and its parked run.
func (s *Service) ResumeSync(ctx context.Context, r *synqv1.ResumeSyncRequest) (*synqv1.ResumeSyncResponse, error) {
	if _, err := s.ops.Resume(ctx, r.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	v, err := s.ops.View(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.ResumeSyncResponse{Sync: s.syncPB(ctx, v)}, nil
}

// CancelRun cancels an active run.
func (s *Service) CancelRun(ctx context.Context, r *synqv1.CancelRunRequest) (*synqv1.CancelRunResponse, error) {
	run, err := s.ops.Cancel(ctx, r.GetRunId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.CancelRunResponse{Run: runPB(&run)}, nil
}

// ListRuns lists runs, newest first.
func (s *Service) ListRuns(ctx context.Context, r *synqv1.ListRunsRequest) (*synqv1.ListRunsResponse, error) {
	size := int(r.GetPageSize())
	if size == 0 {
		size = 20
	}
	offset := 0
	if t := r.GetPageToken(); t != "" {
		offset, _ = synqv1.DecodePageToken(t)
	}
	runs, err := s.ops.Runs(ctx, r.GetSyncKey(), offset, size+1)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &synqv1.ListRunsResponse{}
	if len(runs) > size {
		runs = runs[:size]
		out.NextPageToken = synqv1.EncodePageToken(offset + size)
	}
	for i := range runs {
		out.Runs = append(out.Runs, runPB(&runs[i]))
	}
	return out, nil
}

// GetRun returns one run with its page records.
func (s *Service) GetRun(ctx context.Context, r *synqv1.GetRunRequest) (*synqv1.GetRunResponse, error) {
	run, err := s.ops.Run(ctx, r.GetRunId())
	if err != nil {
		return nil, toStatus(err)
	}
	pages, err := s.ops.RunPages(ctx, r.GetRunId())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &synqv1.GetRunResponse{Run: runPB(&run)}
	for _, p := range pages {
		pr := &synqv1.PageRecord{Page: int32(p.Page), Attempts: int32(p.Attempts), Counters: p.Counters, Error: p.Error}
		if !p.Started.IsZero() {
			pr.Started = timestamppb.New(p.Started)
		}
		if !p.Finished.IsZero() {
			pr.Finished = timestamppb.New(p.Finished)
		}
		out.Pages = append(out.Pages, pr)
	}
	return out, nil
}

// ForgetSync removes the records of a sync no live executor declares.
func (s *Service) ForgetSync(ctx context.Context, r *synqv1.ForgetSyncRequest) (*synqv1.ForgetSyncResponse, error) {
	if err := s.ops.Forget(ctx, r.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	return &synqv1.ForgetSyncResponse{}, nil
}

// GetRunLogs streams a run's log; with follow, until the run ends. The
// lines of a page are stored in the same step as the commit that ends the
// run, so the read after seeing the end has them all.
func (s *Service) GetRunLogs(r *synqv1.GetRunLogsRequest, stream synqv1.ControlService_GetRunLogsServer) error {
	ctx := stream.Context()
	var from int64
	for {
		run, err := s.ops.Run(ctx, r.GetRunId())
		if err != nil {
			return toStatus(err)
		}
		// Read the log after the status: lines stored with the end are
		// then never missed.
		lines, err := s.ops.Logs(ctx, r.GetRunId(), from)
		if err != nil {
			return toStatus(err)
		}
		ended := run.Ended()
		if len(lines) > 0 || from == 0 || (ended && r.GetFollow()) {
			msg := &synqv1.GetRunLogsResponse{Run: runPB(&run)}
			for _, l := range lines {
				msg.Lines = append(msg.Lines, linePB(l))
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			if len(lines) > 0 {
				// By sequence number: lines the log cap dropped meanwhile
				// are skipped, not waited for.
				from = lines[len(lines)-1].Seq + 1
			}
		}
		if !r.GetFollow() || (ended && len(lines) == 0) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *Service) syncPB(ctx context.Context, v ops.View) *synqv1.Sync {
	out := &synqv1.Sync{
		Key:                 v.Key,
		Worker:              v.Worker,
		Database:            v.Database,
		Mode:                modePB(v.Mode),
		Schedule:            v.Schedule.Text,
		Health:              healthPB(v.Health),
		Paused:              v.Status.Paused,
		ConsecutiveFailures: int64(v.Status.ConsecutiveFailures),
		SkippedTicks:        v.Status.SkippedTicks,
		ActiveRun:           runPB(v.ActiveRun),
		LastRun:             runPB(v.LastRun),
		Declared:            v.Declared,
		Build:               v.Build,
		Conflict:            v.Conflict,
		Timeout:             durationpb.New(v.Timeout),
		MaxAttempts:         int32(v.MaxAttempts),
		MaxTrashFraction:    v.MaxTrashFraction,
		HealthReason:        v.HealthReason(),
	}
	if !v.Declared && !v.Since.IsZero() {
		out.UndeclaredSince = timestamppb.New(v.Since)
	}
	if v.Existing != nil {
		out.Existing = existingPB(v.SyncInfo.Existing, v.Existing)
	}
	if !v.Status.NextRun.IsZero() && v.Schedule.Kind == spec.Every {
		out.NextRun = timestamppb.New(v.Status.NextRun)
	}
	if s.cfg.Pacer != nil {
		for _, key := range v.Pacers {
			st, err := s.cfg.Pacer.Stats(ctx, "sdk:"+key)
			if err != nil {
				continue
			}
			pu := &synqv1.PacerUse{Key: key, Granted: st.Granted, ActiveConsumers: int64(len(st.Active)), WaitTotal: durationpb.New(st.WaitTime)}
			if lim, ok := v.PacerLimits[key]; ok {
				pu.AllowedRequests = int64(lim.Requests)
				pu.Interval = durationpb.New(lim.Interval)
			}
			out.Pacers = append(out.Pacers, pu)
		}
	}
	return out
}

func existingPB(id string, info *rdb.ExistingInfo) *synqv1.ExistingDatabase {
	out := &synqv1.ExistingDatabase{DatabaseId: id}
	if c := info.Columns; c != nil {
		out.Url, out.DataSource = c.URL, c.DataSource
		out.OwnedColumns, out.AddedColumns, out.OtherColumns = c.Owned, c.Added, c.Others
	}
	if r := info.Rows; r != nil {
		out.RowsWithKey, out.RowsAdopted = int64(r.Rows), int64(r.Adopted)
		out.RowsKeyless, out.RowsDuplicate = int64(r.Keyless), int64(r.DuplicateCount)
		out.ReadAt = timestamppb.New(r.At)
		for _, d := range r.Duplicates {
			out.Duplicates = append(out.Duplicates, &synqv1.DuplicateRow{Key: d.Key, PageId: d.PageID, AdoptedPageId: d.Kept})
		}
	}
	return out
}

func runPB(r *rdb.Run) *synqv1.Run {
	if r == nil {
		return nil
	}
	out := &synqv1.Run{
		Id: r.ID, SyncKey: r.Sync, Error: r.Error,
		Trigger: map[string]synqv1.Trigger{"schedule": synqv1.Trigger_TRIGGER_SCHEDULE, "manual": synqv1.Trigger_TRIGGER_MANUAL, "resume": synqv1.Trigger_TRIGGER_RESUME}[r.Trigger],
		Status: map[string]synqv1.RunStatus{
			rdb.RunRunning: synqv1.RunStatus_RUN_STATUS_RUNNING, rdb.RunSucceeded: synqv1.RunStatus_RUN_STATUS_SUCCEEDED,
			rdb.RunFailed: synqv1.RunStatus_RUN_STATUS_FAILED, rdb.RunCancelled: synqv1.RunStatus_RUN_STATUS_CANCELLED,
			rdb.RunParked: synqv1.RunStatus_RUN_STATUS_PARKED, rdb.RunWarning: synqv1.RunStatus_RUN_STATUS_WARNING,
		}[r.Status],
		Worker:     r.Worker,
		AllowTrash: r.AllowTrash,
		Counters: &synqv1.Counters{
			Pages: r.Counters["pages"], Created: r.Counters["created"], Updated: r.Counters["updated"],
			Unchanged: r.Counters["unchanged"], Trashed: r.Counters["trashed"], Skipped: r.Counters["skipped"],
		},
	}
	if r.Status == rdb.RunRunning {
		out.CurrentPage, out.LastError = int32(r.TaskPage), r.LastError
		if r.AttemptPage == r.TaskPage {
			out.Attempts = int32(r.Attempts)
		}
	}
	if !r.Started.IsZero() {
		out.Started = timestamppb.New(r.Started)
	}
	if !r.Finished.IsZero() {
		out.Finished = timestamppb.New(r.Finished)
	}
	return out
}

func linePB(l rdb.LogLine) *synqv1.LogLine {
	out := &synqv1.LogLine{Time: timestamppb.New(l.Time), Level: l.Level, Source: l.Source, Page: int32(l.Page), Message: l.Message}
	if len(l.Attrs) > 0 {
		out.Attrs = map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(l.Attrs)) {
			switch v := l.Attrs[k].(type) {
			case string:
				out.Attrs[k] = v
			default:
				b, _ := json.Marshal(v)
				out.Attrs[k] = string(b)
			}
		}
	}
	return out
}

func previewPB(p ops.PreviewResult) *synqv1.Preview {
	out := &synqv1.Preview{HasMore: p.HasMore, NextStateJson: string(p.NextState)}
	kinds := map[string]synqv1.ChangeKind{
		"created": synqv1.ChangeKind_CHANGE_KIND_CREATE, "updated": synqv1.ChangeKind_CHANGE_KIND_UPDATE,
		"unchanged": synqv1.ChangeKind_CHANGE_KIND_UNCHANGED, "trashed": synqv1.ChangeKind_CHANGE_KIND_TRASH,
		"skipped": synqv1.ChangeKind_CHANGE_KIND_STALE,
	}
	for _, c := range p.Changes {
		b, _ := json.Marshal(c.Properties)
		pc := &synqv1.PreviewChange{Key: c.Key, Database: c.Database, Kind: kinds[c.Kind], PropertiesJson: string(b), Message: c.Message, OldError: c.OldError}
		if c.Old != nil {
			ob, _ := json.Marshal(c.Old)
			pc.OldPropertiesJson = string(ob)
		}
		out.Changes = append(out.Changes, pc)
	}
	return out
}

func modePB(m spec.Mode) synqv1.Mode {
	if m == spec.Incremental {
		return synqv1.Mode_MODE_INCREMENTAL
	}
	return synqv1.Mode_MODE_REPLACE
}

func healthPB(h ops.Health) synqv1.Health {
	return map[ops.Health]synqv1.Health{
		ops.Initializing: synqv1.Health_HEALTH_INITIALIZING, ops.Healthy: synqv1.Health_HEALTH_HEALTHY,
		ops.Warning: synqv1.Health_HEALTH_WARNING, ops.Error: synqv1.Health_HEALTH_ERROR, ops.Disabled: synqv1.Health_HEALTH_DISABLED,
	}[h]
}
