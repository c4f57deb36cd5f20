"""Exit, skip and budget policies: pure numpy logic over deer_ros.model.api.SegmentModel."""
from deer_ros.policies.config import EngineConfig
from deer_ros.policies.criterion import consistency_value
from deer_ros.policies.engine import InferenceEngine
from deer_ros.policies.record import CandidateRecord, SkipInfo, StepRecord

__all__ = ['CandidateRecord', 'EngineConfig', 'InferenceEngine', 'SkipInfo', 'StepRecord',
           'consistency_value']
