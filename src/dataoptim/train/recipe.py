"""The challenge's fixed training recipe (DESIGN §8), as data both backends read.

Source: DataOptim's README training script (BAAI-DCAI/DataOptim, "Training"),
based on LLaVA's ``scripts/finetune.sh``, run with LLaVA at commit 744cb3e, plus
``--image_aspect_ratio pad`` (DESIGN §8). The ZeRO configs hold the same values
as LLaVA's ``scripts/zero3.json`` / ``zero2.json`` (``auto`` values filled by the
``transformers`` deepspeed integration).
"""

from __future__ import annotations

#: The LLaVA commit the challenge trains with (a checkout's ``HEAD`` must start with it).
LLAVA_COMMIT = "744cb3e"
LAUNCHER = "deepspeed"
TRAIN_SCRIPT = "llava/train/train_mem.py"

#: Every flag of the recipe, in the README's order, with its value as written on the command line.
#: ``None`` marks the flags the user must supply (paths). ``deepspeed`` is filled with the written config.
RECIPE_FLAGS: dict[str, str | None] = {
    "deepspeed": None,
    "model_name_or_path": None,
    "version": "llava_llama_2",
    "data_path": None,
    "image_folder": None,
    "vision_tower": "openai/clip-vit-large-patch14",
    "pretrain_mm_mlp_adapter": None,
    "mm_vision_select_layer": "-2",
    "mm_use_im_start_end": "False",
    "mm_use_im_patch_token": "False",
    "image_aspect_ratio": "pad",
    "bf16": "True",
    "output_dir": None,
    "num_train_epochs": "1",
    "per_device_train_batch_size": "16",
    "per_device_eval_batch_size": "4",
    "gradient_accumulation_steps": "1",
    "evaluation_strategy": "no",
    "save_strategy": "steps",
    "save_steps": "50000",
    "save_total_limit": "1",
    "learning_rate": "2e-5",
    "weight_decay": "0.",
    "warmup_ratio": "0.03",
    "lr_scheduler_type": "cosine",
    "logging_steps": "1",
    "tf32": "True",
    "model_max_length": "2048",
    "gradient_checkpointing": "True",
    "dataloader_num_workers": "4",
    "lazy_preprocess": "True",
    "report_to": "wandb",
}

#: Base model of the recipe (hub id; pass a local folder in practice).
BASE_MODEL = "meta-llama/Llama-2-7b-chat-hf"
#: Pretrain projector of the recipe (hub repo ``liuhaotian/llava-pretrain-llama-2-7b-chat``, file ``mm_projector.bin``).
PRETRAIN_PROJECTOR = "liuhaotian/llava-pretrain-llama-2-7b-chat/mm_projector.bin"

#: Flags added for a LoRA check (LLaVA ``scripts/finetune_lora.sh``: LoRA on, learning rate 2e-4).
LORA_FLAGS = {"lora_enable": "True", "learning_rate": "2e-4"}
#: Flags added for QLoRA (LLaVA ``scripts/finetune_qlora.sh``: 4-bit base, LoRA, ZeRO-2).
QLORA_FLAGS = {"bits": "4", "lora_enable": "True", "learning_rate": "2e-4"}


def _zero_common() -> dict:
    return {
        "fp16": {
            "enabled": "auto",
            "loss_scale": 0,
            "loss_scale_window": 1000,
            "initial_scale_power": 16,
            "hysteresis": 2,
            "min_loss_scale": 1,
        },
        "bf16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
    }


def zero3_config() -> dict:
    """DeepSpeed ZeRO stage-3 config of the recipe (parameters, gradients and optimizer state sharded)."""
    config = _zero_common()
    config["zero_optimization"] = {
        "stage": 3,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "sub_group_size": 1e9,
        "reduce_bucket_size": "auto",
        "stage3_prefetch_bucket_size": "auto",
        "stage3_param_persistence_threshold": "auto",
        "stage3_max_live_parameters": 1e9,
        "stage3_max_reuse_distance": 1e9,
        "stage3_gather_16bit_weights_on_model_save": True,
    }
    return config


def zero2_config() -> dict:
    """DeepSpeed ZeRO stage-2 config (used for QLoRA, which ZeRO-3 cannot shard)."""
    config = _zero_common()
    config["zero_optimization"] = {
        "stage": 2,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "sub_group_size": 1e9,
        "reduce_bucket_size": "auto",
    }
    return config


#: The same recipe as ``transformers`` ``TrainingArguments`` values (hf backend).
HF_RECIPE = {
    "num_train_epochs": 1,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "learning_rate": 2e-5,
    "weight_decay": 0.0,
    "warmup_ratio": 0.03,
    "lr_scheduler_type": "cosine",
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 50000,
    "save_total_limit": 1,
    "gradient_checkpointing": True,
    "dataloader_num_workers": 4,
    "model_max_length": 2048,
    "bf16": True,
    "tf32": True,
}
