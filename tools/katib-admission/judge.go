package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/kubeflow/katib/pkg/controller.v1beta1/consts"
	"github.com/kubeflow/katib/pkg/webhook/v1beta1/common"
	"github.com/kubeflow/katib/pkg/webhook/v1beta1/experiment"
)

// judge runs Katib's mutating and validating Experiment webhooks in-process, as the API server calls
// them on CREATE: the defaulter's patch is applied to the object the validator then sees.
type judge struct {
	scheme     *runtime.Scheme
	configData string
	labelled   bool
	extra      []*corev1.ConfigMap
}

func newJudge(scheme *runtime.Scheme, configData string, labelled bool, extra []*corev1.ConfigMap) *judge {
	return &judge{scheme: scheme, configData: configData, labelled: labelled, extra: extra}
}

func (j *judge) admit(ctx context.Context, raw []byte) verdict {
	var meta struct {
		Kind     string            `json:"kind"`
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return verdict{Stage: "decode", Message: err.Error()}
	}
	namespace := meta.Metadata.Namespace
	if namespace == "" {
		namespace = "default"
	}
	result := verdict{Name: meta.Metadata.Name}
	if meta.Kind != "Experiment" {
		result.Stage, result.Message = "decode", fmt.Sprintf("kind %q is not Experiment", meta.Kind)
		return result
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if j.labelled {
		ns.Labels = map[string]string{common.KatibMetricsCollectorInjection: common.KatibMetricsCollectorInjectionEnabled}
	}
	configMap := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: consts.KatibConfigMapName, Namespace: consts.DefaultKatibNamespace},
		Data:       map[string]string{consts.LabelKatibConfigTag: j.configData},
	}
	builder := fake.NewClientBuilder().WithScheme(j.scheme).WithObjects(ns, configMap)
	for _, object := range j.extra {
		builder = builder.WithObjects(object.DeepCopy())
	}
	c := builder.Build()
	decoder := admission.NewDecoder(j.scheme)

	request := func(object []byte) admission.Request {
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID:       types.UID("hpoctl-judge"),
			Kind:      metav1.GroupVersionKind{Group: "kubeflow.org", Version: "v1beta1", Kind: "Experiment"},
			Resource:  metav1.GroupVersionResource{Group: "kubeflow.org", Version: "v1beta1", Resource: "experiments"},
			Name:      meta.Metadata.Name,
			Namespace: namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: object},
		}}
	}

	mutated := experiment.NewExperimentDefaulter(c, decoder).Handle(ctx, request(raw))
	if !mutated.Allowed {
		result.Stage, result.Message = "mutate", message(mutated)
		return result
	}
	defaulted := raw
	if len(mutated.Patches) > 0 {
		patchJSON, err := json.Marshal(mutated.Patches)
		if err != nil {
			result.Stage, result.Message = "mutate", err.Error()
			return result
		}
		patch, err := jsonpatch.DecodePatch(patchJSON)
		if err == nil {
			defaulted, err = patch.Apply(raw)
		}
		if err != nil {
			result.Stage, result.Message = "mutate", err.Error()
			return result
		}
	}
	result.Defaulted = defaulted

	validated := experiment.NewExperimentValidator(c, decoder).Handle(ctx, request(defaulted))
	result.Stage, result.Allowed, result.Message = "validate", validated.Allowed, message(validated)
	return result
}

func message(response admission.Response) string {
	if response.Result == nil {
		return ""
	}
	return response.Result.Message
}

// readConfigMaps reads the ConfigMaps of a YAML file.
func readConfigMaps(path string) ([]*corev1.ConfigMap, error) {
	docs, err := readExperiments(path)
	if err != nil {
		return nil, err
	}
	configMaps := make([]*corev1.ConfigMap, 0, len(docs))
	for _, doc := range docs {
		configMap := &corev1.ConfigMap{}
		if err := json.Unmarshal(doc, configMap); err != nil {
			return nil, err
		}
		configMaps = append(configMaps, configMap)
	}
	return configMaps, nil
}

// readExperiments splits a YAML (or JSON) file into its documents, each as JSON; empty documents are skipped.
func readExperiments(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		asJSON, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(asJSON) == "null" {
			continue
		}
		docs = append(docs, asJSON)
	}
}
