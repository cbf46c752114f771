"""LangChain: an LCEL chain (prompt | ChatCNLLM | parser), streamed token by token.

python examples/langchain_lcel_stream.py
"""

from _gateway import gateway
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_cn_llm import ChatCNLLM

prompt = ChatPromptTemplate.from_messages(
    [("system", "你是一位{style}，回答简洁。"), ("human", "{question}")]
)

with gateway() as settings:
    llm = ChatCNLLM(model="qwen3-max", temperature=0.7, **settings)
    chain = prompt | llm | StrOutputParser()
    # .stream() passes each text piece through the parser as soon as the model sends it.
    pieces = []
    for piece in chain.stream({"style": "古典诗词专家", "question": "写一首关于梅花的五言绝句。"}):
        pieces.append(piece)
        print(piece, end="", flush=True)
    print()
    print(f"streamed {len(pieces)} pieces")
