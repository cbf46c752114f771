"""Video input for Qwen-VL: a video file, a list of frames, from the SDK, LangChain and LlamaIndex.

A video goes as a `video_url` part; sampled frames as one `video` part with their fps. Models
without video (qwen3-max, ...) are refused before any request.

    python examples/video_input.py        # DASHSCOPE_API_KEY for real answers
"""

from _gateway import gateway
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import TextBlock, VideoBlock
from llama_index.core.llms import ChatMessage

from cn_llm_client import CNLLMClient, InvalidRequestError, video_part
from langchain_cn_llm import ChatCNLLM
from llama_index_cn_llm import CNLLM

MODEL = "qwen3-vl-plus"
CLIP = "https://example.com/clip.mp4"  # your video (http(s) URL, or a local path)
FRAMES = [f"https://example.com/frames/{i}.jpg" for i in range(4)]
QUESTION = "这段视频里发生了什么？"

with gateway("dashscope") as settings:
    with CNLLMClient(**settings) as client:
        content = [{"type": "text", "text": QUESTION}, video_part(FRAMES, fps=2)]
        reply = client.chat(MODEL, [{"role": "user", "content": content}])
        print(f"frames ({len(FRAMES)} at 2 fps):", reply["choices"][0]["message"]["content"])
        try:
            client.chat("qwen-plus", [{"role": "user", "content": content}])
        except InvalidRequestError as error:
            print("refused before sending:", error.message)

    chat = ChatCNLLM(model=MODEL, **settings)
    block = {"type": "video", "url": CLIP}  # a LangChain v1 video block
    message = HumanMessage(content=[{"type": "text", "text": QUESTION}, block])
    print("LangChain video block:", chat.invoke([message]).text)

    llm = CNLLM(model=MODEL, **settings)
    blocks = [TextBlock(text=QUESTION), VideoBlock(url=CLIP)]
    print(
        "LlamaIndex VideoBlock:",
        llm.chat([ChatMessage(role="user", blocks=blocks)]).message.content,
    )
