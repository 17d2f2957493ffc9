"""Contains all the data models used in inputs/outputs"""

from .api_key import ApiKey
from .api_key_create import ApiKeyCreate
from .api_key_create_role import ApiKeyCreateRole
from .api_key_created import ApiKeyCreated
from .api_key_created_role import ApiKeyCreatedRole
from .api_key_list import ApiKeyList
from .api_key_role import ApiKeyRole
from .attempt import Attempt
from .audit_event import AuditEvent
from .audit_event_details import AuditEventDetails
from .audit_event_list import AuditEventList
from .capacity_plan import CapacityPlan
from .capacity_plan_hpa import CapacityPlanHpa
from .capacity_plan_marginal_cost_per_user_item import CapacityPlanMarginalCostPerUserItem
from .capacity_plan_measurement import CapacityPlanMeasurement
from .cell_list import CellList
from .cell_summary import CellSummary
from .cell_summary_status import CellSummaryStatus
from .chain_verification import ChainVerification
from .collection import Collection
from .collection_create import CollectionCreate
from .collection_create_on_erasure import CollectionCreateOnErasure
from .collection_create_schema import CollectionCreateSchema
from .collection_events_stream_response_200 import CollectionEventsStreamResponse200
from .collection_list import CollectionList
from .collection_on_erasure import CollectionOnErasure
from .collection_patch import CollectionPatch
from .collection_patch_on_erasure import CollectionPatchOnErasure
from .collection_patch_schema import CollectionPatchSchema
from .collection_schema import CollectionSchema
from .cors_settings import CorsSettings
from .delivery import Delivery
from .delivery_list import DeliveryList
from .delivery_status import DeliveryStatus
from .feature_usage import FeatureUsage
from .finops_report import FinopsReport
from .finops_report_capacity import FinopsReportCapacity
from .finops_report_capacity_measurement import FinopsReportCapacityMeasurement
from .finops_report_features import FinopsReportFeatures
from .finops_report_resources_item import FinopsReportResourcesItem
from .finops_report_teams import FinopsReportTeams
from .finops_report_tenants_item import FinopsReportTenantsItem
from .gateway_difference import GatewayDifference
from .gateway_example import GatewayExample
from .gateway_route import GatewayRoute
from .gateway_route_list import GatewayRouteList
from .gateway_route_mode import GatewayRouteMode
from .health import Health
from .move_request import MoveRequest
from .offboarding_accepted import OffboardingAccepted
from .operator_key import OperatorKey
from .operator_key_create import OperatorKeyCreate
from .operator_key_created import OperatorKeyCreated
from .operator_key_list import OperatorKeyList
from .privacy_request import PrivacyRequest
from .privacy_request_erased_type_0 import PrivacyRequestErasedType0
from .privacy_request_kind import PrivacyRequestKind
from .privacy_request_status import PrivacyRequestStatus
from .problem import Problem
from .problem_field_error import ProblemFieldError
from .processing_record import ProcessingRecord
from .processing_record_activities_item import ProcessingRecordActivitiesItem
from .processing_record_controller import ProcessingRecordController
from .readiness import Readiness
from .readiness_checks import ReadinessChecks
from .readiness_status import ReadinessStatus
from .record import Record
from .record_data import RecordData
from .record_data_patch import RecordDataPatch
from .record_list import RecordList
from .record_write import RecordWrite
from .record_write_data import RecordWriteData
from .ref import Ref
from .subject_export import SubjectExport
from .subject_export_audit_events_item import SubjectExportAuditEventsItem
from .subject_export_processing_item import SubjectExportProcessingItem
from .subject_export_records import SubjectExportRecords
from .subject_export_records_additional_property_item import SubjectExportRecordsAdditionalPropertyItem
from .subject_request import SubjectRequest
from .tenant import Tenant
from .tenant_create import TenantCreate
from .tenant_create_plan import TenantCreatePlan
from .tenant_events_stream_response_200 import TenantEventsStreamResponse200
from .tenant_list import TenantList
from .tenant_move import TenantMove
from .tenant_move_status import TenantMoveStatus
from .tenant_patch import TenantPatch
from .tenant_patch_plan import TenantPatchPlan
from .tenant_patch_status import TenantPatchStatus
from .tenant_status import TenantStatus
from .usage import Usage
from .usage_bucket import UsageBucket
from .usage_figures import UsageFigures
from .usage_get_granularity import UsageGetGranularity
from .usage_granularity import UsageGranularity
from .user import User
from .user_create import UserCreate
from .user_create_role import UserCreateRole
from .user_list import UserList
from .user_patch import UserPatch
from .user_patch_role import UserPatchRole
from .user_role import UserRole
from .webhook import Webhook
from .webhook_create import WebhookCreate
from .webhook_create_events_item import WebhookCreateEventsItem
from .webhook_created import WebhookCreated
from .webhook_list import WebhookList
from .webhook_patch import WebhookPatch
from .webhook_patch_events_item import WebhookPatchEventsItem
from .webhook_secret import WebhookSecret

__all__ = (
    "ApiKey",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyCreatedRole",
    "ApiKeyCreateRole",
    "ApiKeyList",
    "ApiKeyRole",
    "Attempt",
    "AuditEvent",
    "AuditEventDetails",
    "AuditEventList",
    "CapacityPlan",
    "CapacityPlanHpa",
    "CapacityPlanMarginalCostPerUserItem",
    "CapacityPlanMeasurement",
    "CellList",
    "CellSummary",
    "CellSummaryStatus",
    "ChainVerification",
    "Collection",
    "CollectionCreate",
    "CollectionCreateOnErasure",
    "CollectionCreateSchema",
    "CollectionEventsStreamResponse200",
    "CollectionList",
    "CollectionOnErasure",
    "CollectionPatch",
    "CollectionPatchOnErasure",
    "CollectionPatchSchema",
    "CollectionSchema",
    "CorsSettings",
    "Delivery",
    "DeliveryList",
    "DeliveryStatus",
    "FeatureUsage",
    "FinopsReport",
    "FinopsReportCapacity",
    "FinopsReportCapacityMeasurement",
    "FinopsReportFeatures",
    "FinopsReportResourcesItem",
    "FinopsReportTeams",
    "FinopsReportTenantsItem",
    "GatewayDifference",
    "GatewayExample",
    "GatewayRoute",
    "GatewayRouteList",
    "GatewayRouteMode",
    "Health",
    "MoveRequest",
    "OffboardingAccepted",
    "OperatorKey",
    "OperatorKeyCreate",
    "OperatorKeyCreated",
    "OperatorKeyList",
    "PrivacyRequest",
    "PrivacyRequestErasedType0",
    "PrivacyRequestKind",
    "PrivacyRequestStatus",
    "Problem",
    "ProblemFieldError",
    "ProcessingRecord",
    "ProcessingRecordActivitiesItem",
    "ProcessingRecordController",
    "Readiness",
    "ReadinessChecks",
    "ReadinessStatus",
    "Record",
    "RecordData",
    "RecordDataPatch",
    "RecordList",
    "RecordWrite",
    "RecordWriteData",
    "Ref",
    "SubjectExport",
    "SubjectExportAuditEventsItem",
    "SubjectExportProcessingItem",
    "SubjectExportRecords",
    "SubjectExportRecordsAdditionalPropertyItem",
    "SubjectRequest",
    "Tenant",
    "TenantCreate",
    "TenantCreatePlan",
    "TenantEventsStreamResponse200",
    "TenantList",
    "TenantMove",
    "TenantMoveStatus",
    "TenantPatch",
    "TenantPatchPlan",
    "TenantPatchStatus",
    "TenantStatus",
    "Usage",
    "UsageBucket",
    "UsageFigures",
    "UsageGetGranularity",
    "UsageGranularity",
    "User",
    "UserCreate",
    "UserCreateRole",
    "UserList",
    "UserPatch",
    "UserPatchRole",
    "UserRole",
    "Webhook",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookCreateEventsItem",
    "WebhookList",
    "WebhookPatch",
    "WebhookPatchEventsItem",
    "WebhookSecret",
)
