/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The containerd shim v2 task API over a ttrpc client: one call with
 * protobuf-c messages (proto/shimv2.proto, generated as Shimv2__*), and the
 * names that go with the API -- the service, the events' topics and the
 * type URLs of the Any payloads -- so that they are spelt in one place.
 */
#ifndef CLEAT_KATA_SHIM_CALL_H
#define CLEAT_KATA_SHIM_CALL_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "shimv2.pb-c.h"
#include "ttrpc.h"

/* The task service every shim v2 serves. */
#define SHIM_TASK_SERVICE "containerd.task.v2.Task"
/* The service a shim forwards its events to (ttrpc_server.h serves it). */
#define SHIM_EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"

/* Event topics (Envelope.topic) and the type URLs of the events. */
#define SHIM_TOPIC_TASK_CREATE "/tasks/create"
#define SHIM_TOPIC_TASK_START "/tasks/start"
#define SHIM_TOPIC_TASK_DELETE "/tasks/delete"
#define SHIM_TOPIC_TASK_EXIT "/tasks/exit"
#define SHIM_TOPIC_TASK_OOM "/tasks/oom"
#define SHIM_TOPIC_TASK_EXEC_ADDED "/tasks/exec-added"
#define SHIM_TOPIC_TASK_EXEC_STARTED "/tasks/exec-started"
#define SHIM_TOPIC_TASK_PAUSED "/tasks/paused"
#define SHIM_TOPIC_TASK_RESUMED "/tasks/resumed"
#define SHIM_TOPIC_TASK_CHECKPOINTED "/tasks/checkpointed"
#define SHIM_TYPE_TASK_CREATE "containerd.events.TaskCreate"             /* Shimv2__TaskCreate */
#define SHIM_TYPE_TASK_START "containerd.events.TaskStart"               /* Shimv2__TaskStart */
#define SHIM_TYPE_TASK_DELETE "containerd.events.TaskDelete"             /* Shimv2__TaskDelete */
#define SHIM_TYPE_TASK_EXIT "containerd.events.TaskExit"                 /* Shimv2__TaskExit */
#define SHIM_TYPE_TASK_OOM "containerd.events.TaskOOM"                   /* Shimv2__TaskOOM */
#define SHIM_TYPE_TASK_EXEC_ADDED "containerd.events.TaskExecAdded"      /* Shimv2__TaskExecAdded */
#define SHIM_TYPE_TASK_EXEC_STARTED "containerd.events.TaskExecStarted"  /* Shimv2__TaskExecStarted */
#define SHIM_TYPE_TASK_PAUSED "containerd.events.TaskPaused"             /* Shimv2__TaskPaused */
#define SHIM_TYPE_TASK_RESUMED "containerd.events.TaskResumed"           /* Shimv2__TaskResumed */
#define SHIM_TYPE_TASK_CHECKPOINTED "containerd.events.TaskCheckpointed" /* Shimv2__TaskCheckpointed */

/* Any payloads of the task API. */
#define SHIM_TYPE_RUNC_OPTIONS "containerd.runc.v1.Options"                /* Shimv2__RuncOptions */
#define SHIM_TYPE_RUNC_PROCESS_DETAILS "containerd.runc.v1.ProcessDetails" /* Shimv2__RuncProcessDetails */
#define SHIM_TYPE_CGROUPS_V1_METRICS "io.containerd.cgroups.v1.Metrics"    /* Shimv2__CgroupsV1Metrics */
#define SHIM_TYPE_CGROUPS_V2_METRICS "io.containerd.cgroups.v2.Metrics"    /* Shimv2__CgroupsV2Metrics */
/* JSON, not protobuf: an OCI process (Exec's spec) and linux.resources (Update's resources). */
#define SHIM_TYPE_OCI_PROCESS "types.containerd.io/opencontainers/runtime-spec/1/Process"
#define SHIM_TYPE_OCI_LINUX_RESOURCES "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"

/*
 * Call `method` ("Create", "Wait", ... of containerd.task.v2.Task) with
 * `req` and wait at most `timeout_ms` (0: no limit).  On success 0, and
 * when ret_resp is not NULL *ret_resp is the answer unpacked as
 * `resp_desc` (free with protobuf_c_message_free_unpacked(*ret_resp,
 * NULL)); when ret_resp is NULL the answer is not decoded.  Errors as
 * ttrpc_call() says: the shim's own status with its message ("State:
 * container not created: not found" is NOT_FOUND), DEADLINE_EXCEEDED,
 * UNAVAILABLE when the shim is gone, RESOURCE_EXHAUSTED above 4 MiB; and
 * INTERNAL when the answer does not parse as `resp_desc`.  Thread-safe.
 */
int shim_call(struct ttrpc_client *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **ret_resp,
              struct cleat_error **reterr);

/*
 * 1 when an Any's `type_url` names the type `name` ("containerd.events.TaskExit"),
 * with or without a host part ("type.googleapis.com/containerd.events.TaskExit"); else 0.
 */
int shim_type_is(const char *type_url, const char *name);

/* A Timestamp as nanoseconds since the epoch; 0 for NULL (the field was not sent). */
int64_t shim_timestamp_ns(const Shimv2__Timestamp *ts);

#endif
