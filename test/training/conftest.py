"""Training tests share 2 CPU cores with other jobs: one intra-op thread is faster and stable."""
import torch

torch.set_num_threads(1)
