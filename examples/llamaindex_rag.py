"""LlamaIndex: a query engine and a chat engine over the bundled Chinese documents.

MockEmbedding keeps the example offline and free; use a real embedding model for real retrieval.

    python examples/llamaindex_rag.py
"""

from _gateway import DATA, gateway
from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding

from llama_index_cn_llm import CNLLM

Settings.embed_model = MockEmbedding(embed_dim=64)

with gateway() as settings:
    # CNLLM reads the model's real context window and output limit from the catalog.
    llm = CNLLM(model="qwen3-max", temperature=0, **settings)
    documents = SimpleDirectoryReader(str(DATA), required_exts=[".txt"]).load_data()
    index = VectorStoreIndex.from_documents(documents)
    print(f"indexed {len(documents)} documents; context window {llm.metadata.context_window}")

    # A query engine: retrieve, then answer once.
    query_engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    response = query_engine.query("大熊猫主要吃什么？")
    print("query engine:", response)
    print("sources:", [node.metadata["file_name"] for node in response.source_nodes])

    # A chat engine: each question is condensed with the history, then answered from the index.
    chat_engine = index.as_chat_engine(chat_mode="condense_plus_context", llm=llm)
    print("chat engine:", chat_engine.chat("二十四节气是什么时候列入非遗名录的？"))
    print("chat engine:", chat_engine.chat("那冬至有什么习俗？"))
