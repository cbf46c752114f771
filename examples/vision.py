"""Vision: ask qwen3-vl-plus about a local image (examples/data/red_circle.png).

python examples/vision.py
"""

from _gateway import DATA, gateway

from cn_llm_client import CNLLMClient, image_part

image = DATA / "red_circle.png"

with gateway() as settings, CNLLMClient(**settings) as client:
    # image_part turns a local path (or bytes, or a URL) into an OpenAI image_url part;
    # files become data: URLs, so nothing needs to be uploaded anywhere first.
    content = [{"type": "text", "text": "这张图片里有什么？用一句话描述。"}, image_part(image)]
    response = client.chat("qwen3-vl-plus", [{"role": "user", "content": content}])
    print(f"image: {image.name} ({image.stat().st_size} bytes)")
    print("qwen3-vl-plus:", response["choices"][0]["message"]["content"])
