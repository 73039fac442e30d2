// pulumi-resource-command for the e2e rehearsal: the Go module proxy here does not serve the
// upstream pulumi-command provider (only by an untagged commit it refuses), so this plugin
// implements the part of its protocol the program uses, with the same resource and function
// tokens and the same property names as @pulumi/command 1.2.1:
//
//   - resource command:local:Command: create/update/delete run through an interpreter (default
//     /bin/sh -c) with `environment`, `dir`, `stdin`; outputs stdout/stderr (trailing newlines
//     trimmed); `triggers` changes replace, other input changes update; `logging` selects which
//     streams are echoed to the engine; a non-zero exit fails the step with the output.
//   - function command:local:run: the same, on every preview and update.
//
// Preview never runs a command (the engine fills outputs with unknowns). Secret inputs make every
// output secret, as upstream does.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/pkg/v3/resource/provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Version is set with -ldflags to the @pulumi/command version it stands in for.
var Version = "1.2.1"

var inputKeys = []resource.PropertyKey{
	"create", "update", "delete", "dir", "environment", "triggers", "interpreter", "logging",
	"stdin", "addPreviousOutputInEnv", "assetPaths", "archivePaths",
}

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
	host   *provider.HostClient
	cancel context.CancelFunc
	ctx    context.Context
}

func main() {
	if err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		ctx, cancel := context.WithCancel(context.Background())
		return &commandProvider{host: host, ctx: ctx, cancel: cancel}, nil
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var unmarshal = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true, Label: "command"}
var marshal = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, Label: "command"}

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

func (p *commandProvider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

func (p *commandProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: `{"name":"command","version":"` + Version + `"}`}, nil
}

func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: false, AcceptResources: true}, nil
}

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if t := resource.URN(req.GetUrn()).Type(); t != "command:local:Command" {
		return nil, fmt.Errorf("unknown resource type %s", t)
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), unmarshal)
	if err != nil {
		return nil, err
	}
	if v, ok := news["create"]; !ok || v.IsNull() {
		return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: []*pulumirpc.CheckFailure{{Property: "create", Reason: "create is required"}}}, nil
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func inputsOf(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, k := range inputKeys {
		if v, ok := m[k]; ok && !v.IsNull() {
			out[k] = v
		}
	}
	return out
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := plugin.UnmarshalProperties(req.GetOldInputs(), unmarshal)
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		if olds, err = plugin.UnmarshalProperties(req.GetOlds(), unmarshal); err != nil {
			return nil, err
		}
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), unmarshal)
	if err != nil {
		return nil, err
	}
	o, n := inputsOf(olds), inputsOf(news)
	var diffs, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	keys := map[resource.PropertyKey]bool{}
	for k := range o {
		keys[k] = true
	}
	for k := range n {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, string(k))
	}
	sort.Strings(sorted)
	for _, ks := range sorted {
		k := resource.PropertyKey(ks)
		ov, oh := o[k]
		nv, nh := n[k]
		if oh && nh && ov.DeepEquals(nv) {
			continue
		}
		diffs = append(diffs, ks)
		kind := pulumirpc.PropertyDiff_UPDATE
		if !oh {
			kind = pulumirpc.PropertyDiff_ADD
		} else if !nh {
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if ks == "triggers" {
			replaces = append(replaces, ks)
			kind += 1 // the *_REPLACE variant follows each kind
		}
		detailed[ks] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	if len(diffs) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: diffs, Replaces: replaces,
		DetailedDiff: detailed, HasDetailedDiff: true,
	}, nil
}

// plain unwraps secrets (the command needs the values); the caller re-marks outputs.
func plain(v resource.PropertyValue) (resource.PropertyValue, bool) {
	secret := false
	for v.IsSecret() {
		secret = true
		v = v.SecretValue().Element
	}
	return v, secret
}

func str(m resource.PropertyMap, k resource.PropertyKey) (string, bool) {
	v, ok := m[k]
	if !ok {
		return "", false
	}
	v, _ = plain(v)
	if !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

func hasSecret(v resource.PropertyValue) bool {
	if v.IsSecret() {
		return true
	}
	switch {
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if hasSecret(e) {
				return true
			}
		}
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if hasSecret(e) {
				return true
			}
		}
	}
	return false
}

type runResult struct{ stdout, stderr string }

// run executes `cmd` with the resource's interpreter, environment, dir and stdin, echoing the
// selected streams to the engine as it goes.
func (p *commandProvider) run(ctx context.Context, urn resource.URN, props resource.PropertyMap, cmd string, extraEnv []string) (runResult, error) {
	interp := []string{"/bin/sh", "-c"}
	if v, ok := props["interpreter"]; ok {
		if pv, _ := plain(v); pv.IsArray() && len(pv.ArrayValue()) > 0 {
			interp = nil
			for _, e := range pv.ArrayValue() {
				e, _ = plain(e)
				interp = append(interp, e.StringValue())
			}
		}
	}
	c := exec.CommandContext(ctx, interp[0], append(interp[1:], cmd)...)
	c.Env = os.Environ()
	if v, ok := props["environment"]; ok {
		if pv, _ := plain(v); pv.IsObject() {
			for k, e := range pv.ObjectValue() {
				e, _ = plain(e)
				if e.IsString() {
					c.Env = append(c.Env, string(k)+"="+e.StringValue())
				}
			}
		}
	}
	c.Env = append(c.Env, extraEnv...)
	if dir, ok := str(props, "dir"); ok {
		c.Dir = dir
	}
	if in, ok := str(props, "stdin"); ok {
		c.Stdin = strings.NewReader(in)
	}
	logging := "stdoutAndStderr"
	if l, ok := str(props, "logging"); ok {
		logging = l
	}
	var outBuf, errBuf bytes.Buffer
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	c.Stdout, c.Stderr = outW, errW
	var wg sync.WaitGroup
	pump := func(r io.Reader, buf *bytes.Buffer, echo bool) {
		defer wg.Done()
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for s.Scan() {
			buf.Write(s.Bytes())
			buf.WriteByte('\n')
			if echo && urn != "" && p.host != nil {
				_ = p.host.LogStatus(ctx, diag.Info, urn, s.Text())
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}
	wg.Add(2)
	go pump(outR, &outBuf, logging == "stdout" || logging == "stdoutAndStderr")
	go pump(errR, &errBuf, logging == "stderr" || logging == "stdoutAndStderr")
	err := c.Run()
	_ = outW.Close()
	_ = errW.Close()
	wg.Wait()
	res := runResult{stdout: strings.TrimRight(outBuf.String(), "\n"), stderr: strings.TrimRight(errBuf.String(), "\n")}
	if err != nil {
		return res, fmt.Errorf("%w: running %q:\nStdout:\n%s\nStderr:\n%s", err, cmd, indent(res.stdout), indent(res.stderr))
	}
	return res, nil
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 60 {
		lines = append([]string{fmt.Sprintf("… (%d earlier lines)", len(lines)-60)}, lines[len(lines)-60:]...)
	}
	return "\t" + strings.Join(lines, "\n\t")
}

// execute runs cmd for a resource and returns its outputs (inputs + stdout/stderr).
func (p *commandProvider) execute(ctx context.Context, urn string, props resource.PropertyMap, cmd string, extraEnv []string) (*structpb.Struct, error) {
	res, err := p.run(p.merge(ctx), resource.URN(urn), props, cmd, extraEnv)
	if err != nil {
		return nil, err
	}
	return p.outputs(props, res)
}

func (p *commandProvider) outputs(inputs resource.PropertyMap, res runResult) (*structpb.Struct, error) {
	out := inputsOf(inputs)
	secret := hasSecret(resource.NewObjectProperty(inputs))
	wrap := func(s string) resource.PropertyValue {
		v := resource.NewStringProperty(s)
		if secret {
			return resource.MakeSecret(v)
		}
		return v
	}
	out["stdout"] = wrap(res.stdout)
	out["stderr"] = wrap(res.stderr)
	return plugin.MarshalProperties(out, marshal)
}

func previousEnv(addPrev bool, olds resource.PropertyMap) []string {
	if !addPrev {
		return nil
	}
	so, _ := str(olds, "stdout")
	se, _ := str(olds, "stderr")
	return []string{"PULUMI_COMMAND_STDOUT=" + so, "PULUMI_COMMAND_STDERR=" + se}
}

func addPrevious(m resource.PropertyMap) bool {
	if v, ok := m["addPreviousOutputInEnv"]; ok {
		if pv, _ := plain(v); pv.IsBool() {
			return pv.BoolValue()
		}
	}
	return true
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	props, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshal)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		return &pulumirpc.CreateResponse{Properties: req.GetProperties()}, nil
	}
	cmd, _ := str(props, "create")
	out, err := p.execute(ctx, req.GetUrn(), props, cmd, nil)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: newID(), Properties: out}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	news, err := plugin.UnmarshalProperties(req.GetNews(), unmarshal)
	if err != nil {
		return nil, err
	}
	olds, err := plugin.UnmarshalProperties(req.GetOlds(), unmarshal)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		return &pulumirpc.UpdateResponse{Properties: req.GetNews()}, nil
	}
	cmd, ok := str(news, "update")
	if !ok {
		cmd, _ = str(news, "create")
	}
	out, err := p.execute(ctx, req.GetUrn(), news, cmd, previousEnv(addPrevious(news), olds))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: out}, nil
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	olds, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshal)
	if err != nil {
		return nil, err
	}
	cmd, ok := str(olds, "delete")
	if !ok || cmd == "" {
		return &emptypb.Empty{}, nil
	}
	if _, err := p.run(p.merge(ctx), resource.URN(req.GetUrn()), olds, cmd, previousEnv(addPrevious(olds), olds)); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *commandProvider) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	if req.GetTok() != "command:local:run" {
		return nil, fmt.Errorf("unknown function %s", req.GetTok())
	}
	args, err := plugin.UnmarshalProperties(req.GetArgs(), unmarshal)
	if err != nil {
		return nil, err
	}
	cmd, _ := str(args, "command")
	args["logging"] = resource.NewStringProperty("none")
	res, err := p.run(p.merge(ctx), "", args, cmd, nil)
	if err != nil {
		return &pulumirpc.InvokeResponse{Failures: []*pulumirpc.CheckFailure{{Property: "command", Reason: err.Error()}}}, nil
	}
	out := resource.PropertyMap{
		"command": resource.NewStringProperty(cmd),
		"stdout":  resource.NewStringProperty(res.stdout),
		"stderr":  resource.NewStringProperty(res.stderr),
	}
	ret, err := plugin.MarshalProperties(out, marshal)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: ret}, nil
}

// merge ties a request's context to the provider's cancellation.
func (p *commandProvider) merge(ctx context.Context) context.Context {
	merged, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-p.ctx.Done():
		case <-merged.Done():
		}
		cancel()
	}()
	return merged
}

func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancel()
	return &emptypb.Empty{}, nil
}
