// Command katib-admission runs Katib v0.19.0's own admission code, linked from its Go module, so that
// hpoctl's Experiments are judged by Katib rather than by a re-implementation.
//
//	katib-admission serve --kubeconfig K --cert-dir D --port P [--katib-config F]
//	    Katib's Experiment defaulter and validator and its pod sidecar injector as HTTPS admission
//	    webhooks (/mutate-experiment, /validate-experiment, /mutate-pod), exactly as katib-controller
//	    registers them.
//	katib-admission judge --katib-config F [--objects CONFIGMAPS] [--unlabelled-namespace] FILE...
//	    every Experiment in the YAML files through the same defaulter and validator, with the katib-config
//	    ConfigMap and a labelled namespace in an in-memory client; one JSON line per Experiment.
//	katib-admission job-fields
//	    the JSON field table of batch/v1 Job as Go marshals it (hpoctl's validator reads a copy of it).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/spf13/viper"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/manager/signals"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	configv1beta1 "github.com/kubeflow/katib/pkg/apis/config/v1beta1"
	apis "github.com/kubeflow/katib/pkg/apis/controller"
	"github.com/kubeflow/katib/pkg/controller.v1beta1/consts"
	"github.com/kubeflow/katib/pkg/util/v1beta1/katibconfig"
	webhookv1beta1 "github.com/kubeflow/katib/pkg/webhook/v1beta1"
)

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(apis.AddToScheme(scheme))
	utilruntime.Must(configv1beta1.AddToScheme(scheme))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	return scheme
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: katib-admission serve|judge|job-fields [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "judge":
		err = judgeFiles(os.Args[2:], os.Stdout)
	case "job-fields":
		err = writeJobFields(os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "katib-admission: unknown command %q (serve, judge, job-fields)\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "katib-admission: %v\n", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the API server the webhooks read namespaces and the katib-config from")
	certDir := flags.String("cert-dir", "", "folder holding tls.crt and tls.key")
	host := flags.String("host", "127.0.0.1", "address the webhook server listens on")
	port := flags.Int("port", 9443, "port the webhook server listens on")
	katibConfig := flags.String("katib-config", "", "katib-config.yaml for the controller settings (sidecar injection, trial resources)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	logf.SetLogger(zap.New())
	scheme := newScheme()

	// The same settings katib-controller's main reads before it registers the webhooks.
	initConfig, err := katibconfig.GetInitConfigData(scheme, *katibConfig)
	if err != nil {
		return fmt.Errorf("katib-config: %w", err)
	}
	viper.Set(consts.ConfigExperimentSuggestionName, initConfig.ControllerConfig.ExperimentSuggestionName)
	viper.Set(consts.ConfigInjectSecurityContext, initConfig.ControllerConfig.InjectSecurityContext)
	viper.Set(consts.ConfigEnableGRPCProbeInSuggestion, initConfig.ControllerConfig.EnableGRPCProbeInSuggestion)
	trialGVKs, err := katibconfig.TrialResourcesToGVKs(initConfig.ControllerConfig.TrialResources)
	if err != nil {
		return fmt.Errorf("katib-config trialResources: %w", err)
	}
	viper.Set(consts.ConfigTrialResources, trialGVKs)

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	hookServer := webhook.NewServer(webhook.Options{Host: *host, Port: *port, CertDir: *certDir})
	if err := webhookv1beta1.AddToManager(mgr, hookServer); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return mgr.Start(signals.SetupSignalHandler())
}

// verdict is what judge prints for one Experiment.
type verdict struct {
	File      string          `json:"file"`
	Index     int             `json:"index"`
	Name      string          `json:"name"`
	Allowed   bool            `json:"allowed"`
	Stage     string          `json:"stage"`
	Message   string          `json:"message"`
	Defaulted json.RawMessage `json:"defaulted,omitempty"`
}

func judgeFiles(args []string, out *os.File) error {
	flags := flag.NewFlagSet("judge", flag.ExitOnError)
	katibConfig := flags.String("katib-config", "", "katib-config.yaml, served as the katib-config ConfigMap (required)")
	unlabelled := flags.Bool("unlabelled-namespace", false, "leave the namespace without Katib's metrics-collector-injection label")
	objects := flags.String("objects", "", "a YAML file of ConfigMaps the client also holds (trial templates)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *katibConfig == "" || flags.NArg() == 0 {
		return fmt.Errorf("judge needs --katib-config and at least one file")
	}
	configData, err := os.ReadFile(*katibConfig)
	if err != nil {
		return err
	}
	var extra []*corev1.ConfigMap
	if *objects != "" {
		if extra, err = readConfigMaps(*objects); err != nil {
			return fmt.Errorf("%s: %w", *objects, err)
		}
	}
	judge := newJudge(newScheme(), string(configData), !*unlabelled, extra)
	encoder := json.NewEncoder(out)
	for _, path := range flags.Args() {
		docs, err := readExperiments(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for index, doc := range docs {
			result := judge.admit(context.Background(), doc)
			result.File, result.Index = path, index
			if err := encoder.Encode(result); err != nil {
				return err
			}
		}
	}
	return nil
}
