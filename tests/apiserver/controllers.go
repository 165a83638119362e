package main

// The two kube-controller-manager controllers the integration tests need, run in this process: the
// garbage collector (ownerReferences, propagationPolicy Background/Foreground/Orphan) and the namespace
// controller (it empties a deleted namespace and removes its "kubernetes" finalizer, so the namespace
// goes away). They are wired up the way kube-controller-manager's own constructors wire them
// (cmd/kube-controller-manager/app/core.go and controllermanager.go, same k8s.io/kubernetes version),
// without the rest of the controller manager: no leader election, no serving, no other controllers.

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/controller-manager/pkg/informerfactory"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	namespacecontroller "k8s.io/kubernetes/pkg/controller/namespace"
)

const (
	// kube-controller-manager's defaults (--kube-api-qps, --kube-api-burst, --concurrent-gc-syncs,
	// --concurrent-namespace-syncs, --namespace-sync-period, --min-resync-period).
	kubeAPIQPS               = 20
	kubeAPIBurst             = 30
	concurrentGCSyncs        = 20
	concurrentNamespaceSyncs = 10
	namespaceSyncPeriod      = 5 * time.Minute
	informerResyncPeriod     = 12 * time.Hour
	// How often the garbage collector re-reads discovery to watch newly added resource types
	// (CRDs). kube-controller-manager uses 30s; tests install CRDs and expect ownerReferences to
	// and from their objects to be honoured soon after, so poll more often. Unchanged discovery
	// costs one request to /api and one to /apis.
	gcDiscoverySyncPeriod = 5 * time.Second
	// How long the garbage collector's workers wait for its first full cache sync (KCM: 30s).
	gcInitialSyncTimeout = 30 * time.Second
	// How long startControllers waits for the caches before giving up.
	controllersSyncTimeout = 60 * time.Second
)

// startControllers starts the garbage-collector and namespace controllers against the API server that
// base points at, and returns once their caches have synced (the garbage collector watches every
// deletable resource type discovery reports). They stop when ctx is cancelled.
func startControllers(ctx context.Context, base *rest.Config) error {
	logger := klog.FromContext(ctx)
	config := func(name string, qps float32, burst int) *rest.Config {
		c := rest.CopyConfig(base)
		c.UserAgent = "testapiserver/" + name
		c.QPS, c.Burst = qps, burst
		return c
	}
	// Drop managedFields from cached objects, as kube-controller-manager does.
	trim := func(obj interface{}) (interface{}, error) {
		if accessor, err := meta.Accessor(obj); err == nil && accessor.GetManagedFields() != nil {
			accessor.SetManagedFields(nil)
		}
		return obj, nil
	}

	informerClient, err := kubernetes.NewForConfig(config("shared-informers", kubeAPIQPS, kubeAPIBurst))
	if err != nil {
		return err
	}
	sharedInformers := informers.NewSharedInformerFactoryWithOptions(informerClient, informerResyncPeriod, informers.WithTransform(trim))
	metadataInformerClient, err := metadata.NewForConfig(config("metadata-informers", kubeAPIQPS, kubeAPIBurst))
	if err != nil {
		return err
	}
	metadataInformers := metadatainformer.NewSharedInformerFactoryWithOptions(metadataInformerClient, informerResyncPeriod, metadatainformer.WithTransform(trim))
	objectOrMetadataInformers := informerfactory.NewInformerFactory(sharedInformers, metadataInformers)
	informersStarted := make(chan struct{})

	// Garbage collector (KCM: newGarbageCollectorController). Its REST mapper and the discovery client
	// it polls for new resource types must be distinct (see GarbageCollector.Sync).
	mapperDiscovery, err := discovery.NewDiscoveryClientForConfig(config("controller-discovery", kubeAPIQPS, kubeAPIBurst))
	if err != nil {
		return err
	}
	restMapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(mapperDiscovery))
	gcDiscovery, err := discovery.NewDiscoveryClientForConfig(config("generic-garbage-collector", kubeAPIQPS, kubeAPIBurst))
	if err != nil {
		return err
	}
	gcClient, err := kubernetes.NewForConfig(config("generic-garbage-collector", kubeAPIQPS, kubeAPIBurst))
	if err != nil {
		return err
	}
	// Each deletion costs the collector two requests, hence twice the QPS (as in KCM).
	gcMetadataClient, err := metadata.NewForConfig(config("generic-garbage-collector", 2*kubeAPIQPS, kubeAPIBurst))
	if err != nil {
		return err
	}
	gcCtx := klog.NewContext(ctx, klog.LoggerWithName(logger, "garbage-collector-controller"))
	graphBuilder := garbagecollector.NewDependencyGraphBuilder(gcCtx, metadataInformerClient, restMapper,
		garbagecollector.DefaultIgnoredResources(), objectOrMetadataInformers, informersStarted)
	gc, err := garbagecollector.NewComposedGarbageCollector(gcCtx, gcClient, gcMetadataClient, restMapper, graphBuilder)
	if err != nil {
		return fmt.Errorf("garbage collector: %w", err)
	}

	// Namespace controller (KCM: newNamespaceController). It is chatty (discovery, then a delete
	// per resource type), so KCM multiplies its QPS by 20 and its burst by 100.
	nsConfig := config("namespace-controller", 20*kubeAPIQPS, 100*kubeAPIBurst)
	nsClient, err := kubernetes.NewForConfig(nsConfig)
	if err != nil {
		return err
	}
	nsMetadataClient, err := metadata.NewForConfig(nsConfig)
	if err != nil {
		return err
	}
	nsCtx := klog.NewContext(ctx, klog.LoggerWithName(logger, "namespace-controller"))
	namespaceInformer := sharedInformers.Core().V1().Namespaces()
	nc := namespacecontroller.NewNamespaceController(nsCtx, nsClient, nsMetadataClient,
		nsClient.Discovery().ServerPreferredNamespacedResources, namespaceInformer, namespaceSyncPeriod, v1.FinalizerKubernetes)

	// Start the informers, then the controllers (the order KCM uses).
	sharedInformers.Start(ctx.Done())
	objectOrMetadataInformers.Start(ctx.Done())
	close(informersStarted)
	go gc.Run(gcCtx, concurrentGCSyncs, gcInitialSyncTimeout)
	go gc.Sync(gcCtx, gcDiscovery, gcDiscoverySyncPeriod)
	go nc.Run(nsCtx, concurrentNamespaceSyncs)

	syncCtx, cancel := context.WithTimeout(ctx, controllersSyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), namespaceInformer.Informer().HasSynced, func() bool { return gc.IsSynced(logger) }) {
		return fmt.Errorf("garbage-collector and namespace controllers did not sync within %s", controllersSyncTimeout)
	}
	logger.Info("Started controllers", "controllers", []string{"garbage-collector-controller", "namespace-controller"})
	return nil
}
