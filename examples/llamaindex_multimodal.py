"""LlamaIndex: multimodal chat with an ImageBlock (a local image to qwen3-vl-plus).

python examples/llamaindex_multimodal.py
"""

from _gateway import DATA, gateway
from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock

from llama_index_cn_llm import CNLLM

image = DATA / "red_circle.png"

with gateway() as settings:
    llm = CNLLM(model="qwen3-vl-plus", **settings)
    # ImageBlock takes a path, url, or raw bytes; CNLLM sends it as an image_url part.
    message = ChatMessage(
        role="user",
        blocks=[TextBlock(text="这张图片里有什么？用一句话描述。"), ImageBlock(path=image)],
    )
    response = llm.chat([message])
    print(f"image: {image.name}")
    print("qwen3-vl-plus:", response.message.content)
